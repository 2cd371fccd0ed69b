"""A student copy in a real browser: JupyterLab as `make lab` configures it, headless Chromium, Playwright.

The student runs the whole copy (the exercise's test cell fails on the stub), types a wrong answer (its test cell
fails with the check's message), then the master's solution (its test cell passes). The JupyterLab is the one
`make lab` starts (and a hub's student image, binder/start): nbgrader's teacher tools (Formgrader, Course List,
Create Assignment) are off, the students' Assignment List (in the Nbgrader menu) and Validate button are on, and the
"official Jupyter news" prompt does not appear; a control test starts it without jupyter-config/ and sees the
teacher tools and the prompt, so these checks can fail. Uses the first notebook in
notebooks/ with nbgrader exercises, or a small synthetic one while none has. Screenshots go to test-artifacts/ (or
$VAE_TEST_ARTIFACTS). Skipped, like test_browser.py, without /usr/bin/chromium or playwright.
"""
import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat

from test_browser import (ROOT, artifacts_dir, lab_server, notebook_page, pytestmark,  # noqa: F401 (skip marker)
                          run_all_cells)
from test_student import (MASTERS, WRONG, exercises, has_exercises, make_student, nbgrader_meta, synthetic_notebook,
                          wrong_answers)



def make_lab_config_path() -> str:
    """The JUPYTER_CONFIG_PATH that `make lab` sets, read from the Makefile's own recipe (make -n)."""
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    recipe = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed", "lab"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)
    match = re.search(r'JUPYTER_CONFIG_PATH="([^"]+)"', recipe.stdout)
    assert match, f"`make lab` no longer sets JUPYTER_CONFIG_PATH:\n{recipe.stdout}"
    assert Path(match.group(1), "labconfig", "page_config.json").is_file()
    return match.group(1)


@contextmanager
def jupyterlab(root_dir: Path, config_path: str | None):
    """JupyterLab on a free port serving root_dir in smoke mode, with a fresh user config dir (no settings of yours)."""
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    env.update(CI="true", JUPYTER_CONFIG_DIR=str(root_dir.parent / "jupyter-home"))
    if config_path:
        env["JUPYTER_CONFIG_PATH"] = config_path
    with lab_server(root_dir, env, root_dir.parent / "jupyterlab.log") as url:
        yield url


def nbgrader_menu(page) -> list[str]:
    """The visible items of JupyterLab's Nbgrader menu ([] without the menu); the menu is closed again."""
    if "Nbgrader" not in page.locator(".lm-MenuBar-itemLabel").all_inner_texts():
        return []
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    page.locator(".lm-Menu").first.wait_for(timeout=30_000)
    items = [label.inner_text() for label in page.locator(".lm-Menu .lm-Menu-itemLabel").all() if label.is_visible()]
    page.keyboard.press("Escape")
    return items


def clutter(page) -> dict:
    """What nbgrader's teacher tools and the news announcement add to JupyterLab, as found on the page."""
    menu = nbgrader_menu(page)
    return {"Formgrader in the menu": any("Formgrader" in item for item in menu),
            "Course List in the menu": "Course List" in menu,
            "Create Assignment panel": page.get_by_title("Create Assignment").count()
            + page.get_by_text("Create Assignment", exact=True).count() > 0,
            "Open in Notebook button": page.locator(".jp-Toolbar-item:has-text('Notebook')").count() > 0,
            "news prompt": page.get_by_text("official Jupyter news").count() > 0}


def student_tools(page) -> dict:
    """What students need from nbgrader: the Assignment List (fetch, submit) and the Validate button."""
    return {"Assignment List in the menu": "Assignment List" in nbgrader_menu(page),
            "Validate button": page.locator(".jp-Toolbar-item:has-text('Validate')").count() > 0}


def pick_exercise(tmp_path: Path):
    """(master notebook, its first exercise id, that exercise's wrong answer)."""
    master = next((m for m in MASTERS if has_exercises(m)), None)
    if master is None:
        return synthetic_notebook(tmp_path / "99_synthetic.ipynb"), "ex1", WRONG["ex1"]
    grade_id = next(iter(exercises(nbformat.read(master, as_version=4))))
    return master, grade_id, wrong_answers(master)[grade_id]


def cell_output(cell) -> str:
    return cell.locator(".jp-OutputArea").inner_text()


def run_cell(page, cell) -> str:
    """Select the cell, run it (Shift+Enter), wait until it has run; its output text."""
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    prompt.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function("([el, old]) => el.innerText !== old && !el.innerText.includes('*')",
                           arg=[prompt.element_handle(), before], timeout=300_000)
    return cell_output(cell)


def run_edited(page, cells, solution_index: int, test_index: int, code: str) -> str:
    """Type code into the solution cell, run it and then the test cell; the test cell's output text."""
    cells.nth(solution_index).locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)  # as if pasted: no auto-indent
    run_cell(page, cells.nth(solution_index))
    return run_cell(page, cells.nth(test_index))


def test_student_fills_an_exercise_in_jupyterlab(tmp_path):
    artifacts = artifacts_dir()
    master, grade_id, wrong = pick_exercise(tmp_path)
    [student] = make_student.make_student_copies([master], tmp_path / "student")
    nb = nbformat.read(student, as_version=4)
    ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells]
    solution_index, test_index = ids.index(grade_id), ids.index(f"{grade_id}_test")
    solution = exercises(nbformat.read(master, as_version=4))[grade_id][0].source
    assert "raise NotImplementedError()" in nb.cells[solution_index].source

    with (jupyterlab(tmp_path / "student", make_lab_config_path()) as url,
          notebook_page(url.format(student.name), artifacts / "student_failure.png", height=1000) as page):
        run_all_cells(page)  # it stops at the first stub, once every teaching cell has run
        cells = page.locator(".jp-Notebook .jp-Cell")
        stub_error = cells.nth(solution_index).locator(".jp-OutputArea:has-text('NotImplementedError')")
        stub_error.wait_for(timeout=300_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
        output = run_cell(page, cells.nth(test_index))
        page.screenshot(path=str(artifacts / "student_1_stub.png"))
        assert "Error" in output, f"the check passed on the stub:\n{output}"

        # the visible checks catch an answer of the wrong form; a plausible wrong value passes them (its value is
        # checked by the hidden tests at grading) and must not be told it is correct
        name = re.search(r"^(\w+)\s*=", solution.split("### BEGIN SOLUTION")[-1], re.M).group(1)
        output = run_edited(page, cells, solution_index, test_index, f'{name} = "not a number"')
        page.screenshot(path=str(artifacts / "student_2_malformed_answer.png"))
        assert "AssertionError" in output, f"the visible check did not fail on a malformed answer:\n{output}"
        output = run_edited(page, cells, solution_index, test_index, wrong)
        page.screenshot(path=str(artifacts / "student_2_wrong_answer.png"))
        assert "correct" not in output.lower(), f"the student copy told a wrong answer it is correct:\n{output}"

        output = run_edited(page, cells, solution_index, test_index, solution)
        page.screenshot(path=str(artifacts / "student_3_solution.png"))
        assert "Error" not in output and "Traceback" not in output, f"the check failed on the solution:\n{output}"
        assert clutter(page) == dict.fromkeys(clutter(page), False)
        assert student_tools(page) == dict.fromkeys(student_tools(page), True)
        print(f"\n{student.name}: {grade_id} fails on the stub and the wrong answer, passes on the solution; "
              f"screenshots in {artifacts}")


def test_without_the_make_lab_config_nbgrader_and_the_news_prompt_show(tmp_path):
    """The control: the clutter checks above do see nbgrader's menu and the news prompt when they are there."""
    artifacts = artifacts_dir()
    folder = tmp_path / "student"
    folder.mkdir()
    synthetic_notebook(folder / "99_synthetic.ipynb")
    with jupyterlab(folder, None) as url, notebook_page(url.format("99_synthetic.ipynb"), height=1000) as page:
        page.get_by_text("official Jupyter news").wait_for(timeout=60_000)
        time.sleep(1)
        page.screenshot(path=str(artifacts / "student_lab_without_config.png"))
        assert clutter(page) == dict.fromkeys(clutter(page), True)
        assert student_tools(page) == dict.fromkeys(student_tools(page), True)


def test_make_lab_config_keeps_only_the_students_nbgrader_tools(tmp_path):
    """The students' JupyterLab (make lab, a hub's student image): Assignment List and Validate, no teacher tool."""
    artifacts = artifacts_dir()
    folder = tmp_path / "student"
    folder.mkdir()
    synthetic_notebook(folder / "99_synthetic.ipynb")
    with (jupyterlab(folder, make_lab_config_path()) as url,
          notebook_page(url.format("99_synthetic.ipynb"), height=1000) as page):
        page.locator(".jp-Toolbar-item:has-text('Validate')").wait_for(timeout=60_000)
        time.sleep(1)
        assert nbgrader_menu(page) == ["Assignment List"], nbgrader_menu(page)
        page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
        page.screenshot(path=str(artifacts / "student_lab_nbgrader_menu.png"))
        page.keyboard.press("Escape")
        assert clutter(page) == dict.fromkeys(clutter(page), False)
        assert student_tools(page) == dict.fromkeys(student_tools(page), True)
