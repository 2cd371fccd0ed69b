"""Student copies and exercise checks (issues 16 and 21), for every master notebook in notebooks/.

The format (README "For maintainers"; tests/exercise_tools.py reads it): a code exercise is a solution cell `exN`
and a test cell `exN_test` whose visible part checks presence, type and sanity and whose `### BEGIN HIDDEN TESTS`
part checks the value; a written answer is a manually graded markdown cell (`grade` and `solution`, points, grade_id
such as `exN_written`), with no test cell and no wrong answer. For each notebook with exercises:
- static checks on the master: the setup cell (the one that sets `smoke_test`) is read-only (nbgrader `locked`, so
  autograde restores it); every "why?"-style exercise prompt (markdown in the exercises with "why" or "explain") is
  answered by a manually graded markdown cell with points before the next code exercise; every written answer has
  points and a model answer between the solution markers;
- its student copy, built by tools/make_student.py (nbgrader's own preprocessors), holds no line of any solution and
  no line of any hidden test;
- the student copy runs top to bottom in smoke mode (CI=true) with errors only in solution and test cells, and every
  test cell fails there with an AssertionError (a hint), not a NameError: the visible part asserts that the answer
  exists before using it;
- then, in the same kernel, for each code exercise: the wrong answer from tests/wrong_answers/NN.py followed by the
  MASTER's full test cell (hidden tests included) must fail an assert (AssertionError), and the master's solution
  followed by the same cell must pass;
- no test gives the answer away (`leaks`, below): no number in a student copy's test cell, and none in a failure
  message, matches an answer's value to within the test's tolerance;
- on the master solution each test cell passes with no stderr output (a warning, a progress bar) and does not end
  on a value: nbgrader's autograde scores the first 0 and reads the second as partial credit;
- `nbgrader validate` passes on the master notebook.
A notebook without nbgrader exercises is skipped; one whose exercises lack wrong answers fails. The synthetic
notebooks at the end show that the harness itself catches each of these faults.
"""
import importlib.util
import math
import re
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason='nbgrader is in the test and teach extras: pip install -e ".[test]"')
from nbclient import NotebookClient  # noqa: E402  (nbclient comes with nbgrader and nbconvert)
from nbgrader.validator import Validator  # noqa: E402
from traitlets.config import Config  # noqa: E402

from exercise_tools import (answer_names, code_exercises, harvest_source, is_written_answer,  # noqa: E402
                            nbgrader_meta, numbers, parse_harvest, split_hidden, written_answers)

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WRONG_ANSWERS = ROOT / "tests" / "wrong_answers"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CELL_TIMEOUT = 600


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_student = load_module(ROOT / "tools" / "make_student.py", "make_student")


def exercises(nb) -> dict:
    """{grade_id: (solution cell, test cell)} of the code exercises (written answers have no test cell)."""
    return code_exercises(nb)


def wrong_answers(master: Path) -> dict:
    path = WRONG_ANSWERS / f"{master.name[:2]}.py"
    assert path.is_file(), f"{master.name} has exercises but no wrong answers: add {path.relative_to(ROOT)}"
    return load_module(path, f"wrong_answers_{master.name[:2]}").WRONG


def lines(source: str) -> set[str]:
    return {line.strip() for line in source.splitlines() if line.strip()}


def leaked_solution_lines(master_nb, student_nb) -> list[str]:
    """Lines of master solution cells (markers aside) in the student copy, unless the master has them elsewhere."""
    is_solution = [bool(nbgrader_meta(c).get("solution")) for c in master_nb.cells]
    solution = set().union(*[lines(c.source) for c, s in zip(master_nb.cells, is_solution) if s]) - set(MARKERS)
    elsewhere = set().union(*[lines(c.source) for c, s in zip(master_nb.cells, is_solution) if not s])
    student = set().union(*[lines(c.source) for c in student_nb.cells])
    return sorted((solution - elsewhere) & student)


def leaked_hidden_lines(master_nb, student_nb) -> list[str]:
    """Lines of the master's hidden tests in the student copy, unless the master has them outside hidden tests."""
    hidden = set().union(*[lines(split_hidden(c.source)[1]) for c in master_nb.cells]) - set(HIDDEN_MARKERS)
    elsewhere = set().union(*[lines(split_hidden(c.source)[0]) for c in master_nb.cells])
    student = set().union(*[lines(c.source) for c in student_nb.cells])
    return sorted((hidden - elsewhere) & student)


# --- static checks of the format ---------------------------------------------------------------------------------

def setup_cell_problems(nb) -> list[str]:
    """The setup cell (the first code cell that sets smoke_test) must be read-only for nbgrader."""
    setup = next((c for c in nb.cells if c.cell_type == "code" and re.search(r"^smoke_test\s*=", c.source, re.M)), None)
    if setup is None:
        return ["no setup cell (a code cell setting `smoke_test = ...`)"]
    meta = nbgrader_meta(setup)
    if not (meta.get("locked") and not meta.get("solution") and not meta.get("grade") and meta.get("grade_id")):
        return [f"the setup cell is not read-only: give it nbgrader metadata {{grade: false, solution: false, "
                f"locked: true, grade_id: 'setup', ...}} so autograde restores it (has {meta or 'none'})"]
    return []


def exercise_prompts(nb) -> list[tuple[int, str]]:
    """(index, text) of the markdown prompts of the exercises: the non-nbgrader markdown cells from the one just
    before the first solution cell on (in that first cell, only the text from its "Exercise" heading on)."""
    first = next((i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("solution")), None)
    if first is None:
        return []
    start = first
    while start > 0 and nb.cells[start - 1].cell_type == "markdown" and not nbgrader_meta(nb.cells[start - 1]):
        start -= 1
    prompts = []
    for index in range(start, len(nb.cells)):
        cell = nb.cells[index]
        if cell.cell_type == "markdown" and not nbgrader_meta(cell).get("solution"):
            text = cell.source
            if index == start and (heading := re.search(r"(?im)^.*exercise", text)):
                text = text[heading.start():]
            prompts.append((index, text))
    return prompts


WHY = re.compile(r"\bwhy\b|\bexplain\b", re.IGNORECASE)   # "why?", "explain": a written answer; "which?" with a
# variable to define is answered by code


def unanswered_why_questions(nb) -> list[str]:
    """Exercise prompts asking "why?" (or to explain) with no manually graded answer cell with points after them,
    before the code exercise after the next one (the answer cell may follow the exercise's test cell)."""
    problems, pending = [], None          # pending: (index, question, code solutions seen since)
    prompt_at = dict(exercise_prompts(nb))
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if index in prompt_at and WHY.search(re.sub(r"`[^`]*`|\$[^$]*\$", "", prompt_at[index])):
            if pending is None:
                pending = (index, prompt_at[index], 0)
        elif is_written_answer(cell) and (meta.get("points") or 0) > 0:
            pending = None
        elif meta.get("solution") and cell.cell_type == "code" and pending is not None:
            if pending[2] >= 1:
                problems.append(f"cell {pending[0]} asks a question with no manually graded answer cell: "
                                f"{pending[1].strip()[:120]!r}")
                pending = (pending[0], pending[1], 0) if index in prompt_at else None
            else:
                pending = (pending[0], pending[1], pending[2] + 1)
    if pending is not None:
        problems.append(f"cell {pending[0]} asks a question with no manually graded answer cell: "
                        f"{pending[1].strip()[:120]!r}")
    return problems


def written_answer_problems(nb) -> list[str]:
    problems = []
    for grade_id, cell in written_answers(nb).items():
        meta = nbgrader_meta(cell)
        if not (meta.get("points") or 0) > 0:
            problems.append(f"written answer {grade_id} has no points")
        if meta.get("locked"):
            problems.append(f"written answer {grade_id} is locked: students cannot write in it")
        if not (MARKERS[0] in cell.source and MARKERS[1] in cell.source):
            problems.append(f"written answer {grade_id}: put the model answer between {MARKERS[0]} and {MARKERS[1]}")
    return problems


def format_problems(nb) -> list[str]:
    return setup_cell_problems(nb) + unanswered_why_questions(nb) + written_answer_problems(nb)


# --- answers given away --------------------------------------------------------------------------------------------

NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
ABS_TOL = re.compile(r"(?:atol|abs_tol)\s*=\s*([0-9.eE+-]+)")
REL_TOL = re.compile(r"(?:rtol|rel_tol)\s*=\s*([0-9.eE+-]+)")
# abs(...) < t, with one level of nested parentheses inside abs(); "t * x" is relative to x
ABS_COMPARE = re.compile(r"abs\((?:[^()]|\([^()]*\))*\)\s*<=?\s*([0-9.]+(?:[eE][-+]?\d+)?)(\s*\*)?")


def tolerances(test_source: str) -> tuple[float, float]:
    """(absolute, relative) tolerance of a test cell: the loosest it states (atol/rtol, abs(...) < t); when it
    states none, torch.testing's float32 defaults (1e-5, 1.3e-6), which also cover exact comparisons."""
    absolute = [float(t) for t in ABS_TOL.findall(test_source)]
    relative = [float(t) for t in REL_TOL.findall(test_source)]
    for value, times in ABS_COMPARE.findall(test_source):
        (relative if times else absolute).append(float(value))
    return max(absolute, default=1e-5), max(relative, default=1.3e-6)


def leaks(text: str, answers: list[float], tolerance: tuple[float, float]) -> list[str]:
    """Numbers in text (source or message) that give an answer away: within the test's tolerance of an answer value.

    The heuristic, and why it is sound enough: an answer value v (a number the master's solution computes, harvested
    in smoke mode, the mode that grades) is given away by a number x shown to the student when pasting x would pass
    the value check, i.e. | |x| - |v| | <= max(atol, rtol |v|) with the loosest tolerances the test states (signs
    ignored: a hint "-3.2" for 3.2 gives it away too). Small whole numbers (|x| <= 10 and integral) are not
    counted, as numbers shown or as answers: they are shapes, counts, epochs and bounds such as `0 < p < 1`, which
    every sanity check needs, and an answer that is one of them (a digit, a number of dimensions) cannot be hidden
    by leaving out its digit; zero is never counted for the same reason. A number printed more coarsely than the
    tolerance (2.33 for 2.3333 with a 1e-9 check) does not pass and is not counted.
    """
    absolute, relative = tolerance
    found = []
    for match in NUMBER.finditer(text):
        x = float(match.group())
        if x == 0 or (x.is_integer() and x <= 10):
            continue
        for v in answers:
            if v == 0 or not math.isfinite(v) or (float(v).is_integer() and abs(v) <= 10):
                continue
            if abs(x - abs(v)) <= max(absolute, relative * abs(v)):
                found.append(f"{match.group()} (an answer is {v:.6g})")
                break
    return found


# --- running a student copy ---------------------------------------------------------------------------------------

def error_of(cell) -> str | None:
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    return f"{errors[0].ename}: {errors[0].evalue}"[:300] if errors else None


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def check_exercises(master: Path, wrong: dict, workdir: Path) -> None:
    """Build the student copy of master into workdir and run every check above but `nbgrader validate`.

    Raises AssertionError listing every problem found. Runs the kernel with the current environment (set CI=true
    for smoke mode).
    """
    master_nb = nbformat.read(master, as_version=4)
    found = exercises(master_nb)
    assert found, f"{master.name} has no nbgrader exercises"
    assert set(wrong) == set(found), (
        f"tests/wrong_answers/{master.name[:2]}.py must have one wrong answer per code exercise: "
        f"missing {sorted(set(found) - set(wrong))}, unknown {sorted(set(wrong) - set(found))}")
    [student_path] = make_student.make_student_copies([master], workdir)
    student_nb = nbformat.read(student_path, as_version=4)
    problems = format_problems(master_nb)
    problems += [f"solution line leaked into the student copy: {line!r}"
                 for line in leaked_solution_lines(master_nb, student_nb)]
    problems += [f"hidden-test line left in the student copy: {line!r}"
                 for line in leaked_hidden_lines(master_nb, student_nb)]
    shown = {}  # grade_id: texts the student sees (visible test source, failure messages)

    client = NotebookClient(student_nb, timeout=CELL_TIMEOUT, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    with client.setup_kernel():
        for index, cell in enumerate(list(student_nb.cells)):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            meta, error = nbgrader_meta(cell), error_of(cell)
            if error and not (meta.get("solution") or meta.get("grade")):
                problems.append(f"teaching cell {index} fails in the student copy ({error}):\n{cell.source[:200]}")
            if meta.get("grade"):
                grade_id = meta["grade_id"].removesuffix("_test")
                shown.setdefault(grade_id, []).extend([cell.source, error or ""])
                if not error:
                    problems.append(f"{meta['grade_id']} passes on the student's stub: it checks nothing the student "
                                    "wrote")
                elif not error.startswith("AssertionError"):
                    problems.append(f"{meta['grade_id']} fails on the unsolved exercise with {error}, not an "
                                    "AssertionError with a hint: assert that the answer exists first")

        def run(source: str) -> tuple[str | None, str]:
            cell = nbformat.v4.new_code_cell(source)
            student_nb.cells.append(cell)
            client.execute_cell(cell, len(student_nb.cells) - 1)
            return error_of(cell), stdout_of(cell)

        for grade_id, (solution, test) in found.items():
            check = test.source  # the master's, hidden tests included: what autograde runs
            if (error := run(wrong[grade_id])[0]):
                problems.append(f"the wrong answer for {grade_id} itself raises ({error}); it should run and be wrong")
            elif not (error := run(check)[0]):
                problems.append(f"{grade_id}_test passes the wrong answer in tests/wrong_answers/{master.name[:2]}.py")
            elif not error.startswith("AssertionError"):
                problems.append(f"{grade_id}_test crashes on the wrong answer ({error}) instead of failing an assert "
                                "whose message helps the student")
            shown.setdefault(grade_id, []).append(error or "")
            if error := run(solution.source)[0]:
                problems.append(f"the master solution of {grade_id} raises: {error}")
                continue
            values = parse_harvest(run(harvest_source(answer_names(solution.source, check)))[1])
            if error := run(check)[0]:
                problems.append(f"{grade_id}_test fails on the master solution: {error}")
            elif nbgrader_surprise := [o.get("name", o.output_type) for o in student_nb.cells[-1].outputs
                                       if o.output_type == "execute_result" or o.get("name") == "stderr"]:
                problems.append(f"{grade_id}_test passes the master solution but shows {nbgrader_surprise}: nbgrader "
                                "scores a test cell with stderr output 0 and one ending on a value as partial credit")
            answers = [x for item in values.values() for x in numbers(item)]
            for text in shown.get(grade_id, []):
                for leak in leaks(text, answers, tolerances(check)):
                    problems.append(f"{grade_id}: the student sees {leak}, within the test's tolerance, in: "
                                    f"{text.strip()[:160]!r}")
    assert not problems, f"{master.name}:\n- " + "\n- ".join(problems)


def validate(master: Path) -> dict:
    """nbgrader validate on master (executes it); {} when every test cell passes."""
    config = Config()
    config.Execute.timeout = CELL_TIMEOUT
    return Validator(config=config).validate(str(master))


def has_exercises(master: Path) -> bool:
    nb = nbformat.read(master, as_version=4)
    return any(nbgrader_meta(c).get("solution") or nbgrader_meta(c).get("grade") for c in nb.cells)


@pytest.fixture
def smoke_mode(monkeypatch):
    monkeypatch.setenv("CI", "true")


@pytest.mark.parametrize("master", MASTERS, ids=[m.name[:2] for m in MASTERS])
def test_student_copy_and_checks(master, tmp_path, smoke_mode):
    if not has_exercises(master):
        pytest.skip(f"{master.name} has no nbgrader exercises yet")
    check_exercises(master, wrong_answers(master), tmp_path)


@pytest.mark.parametrize("master", MASTERS, ids=[m.name[:2] for m in MASTERS])
def test_nbgrader_validate_passes_on_the_master(master, smoke_mode):
    if not has_exercises(master):
        pytest.skip(f"{master.name} has no nbgrader exercises yet")
    assert validate(master) == {}


def test_wrong_answer_files_belong_to_notebooks():
    numbers = {m.name[:2] for m in MASTERS}
    for path in WRONG_ANSWERS.glob("*.py"):
        assert path.stem in numbers, f"{path.relative_to(ROOT)} names no notebook in notebooks/"
        assert isinstance(load_module(path, f"wrong_{path.stem}").WRONG, dict)


# --- the harness checked on a tiny synthetic notebook -------------------------------------------------------------

def solution_cell(grade_id: str, source: str):
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True, "task": False}})


def grade_cell(grade_id: str, source: str):
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "grade_id": f"{grade_id}_test", "locked": True, "points": 1, "schema_version": 3,
        "solution": False, "task": False}})


def written_cell(grade_id: str, answer: str):
    return nbformat.v4.new_markdown_cell(f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION", metadata={"nbgrader": {
        "grade": True, "grade_id": grade_id, "locked": False, "points": 1, "schema_version": 3, "solution": True,
        "task": False}})


LOCKED = {"nbgrader": {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3, "solution": False,
                       "task": False}}
SOLUTION = "total = 0.0\nfor v in values:\n    total += v\nmean = total / len(values)"
WRONG = {"ex1": "total = 0.0\nfor v in values:\n    total += v\nmean = total  # forgot to divide by the count"}
VISIBLE = ('assert "mean" in globals(), "run your answer cell above first: it should define `mean`"\n'
           'assert isinstance(mean, float), f"mean should be a float, got {mean!r}"')
HIDDEN = 'assert abs(mean - sum(values) / len(values)) < 1e-9, "mean is not the average of values"'


def synthetic_notebook(path: Path, solution=SOLUTION, check=None, visible=VISIBLE, hidden=HIDDEN, after=(),
                       prompt="Compute the mean of `values` as `mean`.", written=None, setup_meta=LOCKED) -> Path:
    """A locked setup cell, then one exercise: the mean of [1, 2, 4] (7/3); `after` adds cells after the exercise;
    `written` a manually graded answer cell after the test; `check` replaces the whole test cell."""
    if check is None:
        check = f"{visible}\nprint('format checks passed')\n### BEGIN HIDDEN TESTS\n{hidden}\nprint('ex1: correct')\n" \
                "### END HIDDEN TESTS"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import os\nsmoke_test = "CI" in os.environ\nvalues = [1.0, 2.0, 4.0]\nvalues',
                                  metadata=setup_meta),
        nbformat.v4.new_markdown_cell(f"## Exercise 1\n{prompt}"),
        solution_cell("ex1", f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION"),
        grade_cell("ex1", check),
        *([written_cell("ex1_written", written)] if written else []),
        *[nbformat.v4.new_code_cell(source) for source in after],
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_harness_passes_a_good_exercise(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_good.ipynb", prompt="Compute the mean as `mean`. Why not the median?",
                                written="The mean uses every value.")
    check_exercises(master, WRONG, tmp_path / "student")
    student = nbformat.read(tmp_path / "student" / "99_good.ipynb", as_version=4)
    assert "raise NotImplementedError()" in student.cells[2].source
    assert "HIDDEN" not in student.cells[3].source and "sum(values)" not in student.cells[3].source
    assert "YOUR ANSWER HERE" in student.cells[4].source
    assert validate(master) == {}


def test_harness_catches_a_leaked_solution_line(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_leak.ipynb")
    nb = nbformat.read(master, as_version=4)
    nb.cells[2].source = "count = len(values)\n" + nb.cells[2].source  # a solution line outside the markers
    nbformat.write(nb, master)
    with pytest.raises(AssertionError, match="solution line leaked.*count = len"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_catches_a_hidden_test_left_visible(tmp_path, smoke_mode):
    check = f"{VISIBLE}\n### BEGIN HIDDEN TEST\n{HIDDEN}\n### END HIDDEN TEST"  # misspelt: nbgrader keeps it
    with pytest.raises(AssertionError, match="hidden-test line left in the student copy: 'assert abs"):
        check_exercises(synthetic_notebook(tmp_path / "99_hid.ipynb", check=check), WRONG, tmp_path / "student")


def test_harness_catches_a_check_that_passes_a_wrong_answer(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_lenient.ipynb", hidden='assert mean > 0, "expected a positive mean"')
    with pytest.raises(AssertionError, match="ex1_test passes the wrong answer"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_catches_a_check_that_crashes_on_a_wrong_answer(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_crash.ipynb", visible='assert "mean" in globals(), "define `mean`"')
    with pytest.raises(AssertionError, match="ex1_test crashes on the wrong answer .TypeError"):
        check_exercises(master, {"ex1": "mean = 'two'"}, tmp_path / "s")


def test_harness_catches_a_name_error_on_the_unsolved_exercise(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_name.ipynb", visible='assert isinstance(mean, float), "a float"')
    with pytest.raises(AssertionError, match="ex1_test fails on the unsolved exercise with NameError"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_catches_an_expected_value_in_a_visible_hint(tmp_path, smoke_mode):
    visible = VISIBLE + '\nassert mean < 3, "the mean of [1, 2, 4] is 2.3333333333"'
    with pytest.raises(AssertionError, match=r"ex1: the student sees 2\.3333333333 \(an answer is 2\.33333\)"):
        check_exercises(synthetic_notebook(tmp_path / "99_v.ipynb", visible=visible), WRONG, tmp_path / "student")


def test_harness_catches_an_expected_value_in_a_hidden_failure_message(tmp_path, smoke_mode):
    hidden = 'assert abs(mean - sum(values) / len(values)) < 1e-3, f"expected {sum(values) / len(values):.4f}"'
    with pytest.raises(AssertionError, match=r"ex1: the student sees 2\.3333 .*AssertionError: expected 2\.3333"):
        check_exercises(synthetic_notebook(tmp_path / "99_m.ipynb", hidden=hidden), WRONG, tmp_path / "student")


def test_leaks_heuristic():
    assert leaks("expected 2.33", [7 / 3], (1e-9, 0)) == []                  # coarser than the tolerance: no pass
    assert leaks("expected 2.33", [7 / 3], (0.01, 0)) == ["2.33 (an answer is 2.33333)"]
    assert leaks("shape (10,), 0 < p < 1, -3.2", [3.2, 1.0], (1e-6, 0)) == ["3.2 (an answer is 3.2)"]
    assert leaks("x_2d, ex1_test, 1e-9", [2.0, 1e-9], (1e-12, 0)) == ["1e-9 (an answer is 1e-09)"]
    assert tolerances("assert abs(a - f(b)) < 1e-3 * total\nassert_close(x, y, atol=0.5)") == (0.5, 1e-3)


def test_harness_catches_a_why_question_without_a_written_answer(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_why.ipynb", prompt="Compute the mean as `mean`. Why not the median?")
    with pytest.raises(AssertionError, match="cell 1 asks a question with no manually graded answer cell"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_catches_an_editable_setup_cell(tmp_path, smoke_mode):
    with pytest.raises(AssertionError, match="the setup cell is not read-only"):
        check_exercises(synthetic_notebook(tmp_path / "99_s.ipynb", setup_meta={}), WRONG, tmp_path / "student")


def test_harness_catches_a_teaching_cell_failing_in_the_student_copy(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_depends.ipynb", after=["centred = [v - mean for v in values]"])
    with pytest.raises(AssertionError, match="teaching cell 4 fails in the student copy .NameError"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_demands_a_wrong_answer_per_exercise(tmp_path):
    with pytest.raises(AssertionError, match=r"missing \['ex1'\]"):
        check_exercises(synthetic_notebook(tmp_path / "99_nowrong.ipynb"), {}, tmp_path / "student")


def test_validate_reports_a_solution_that_fails_its_check(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_bad.ipynb", solution="mean = max(values)")
    assert "failed" in validate(master)


def test_make_student_writes_every_notebook_and_the_zip(tmp_path, monkeypatch):
    """The `make student` command line, on all master notebooks (nbgrader refuses inconsistent metadata): no output,
    no widget state, and no gradebook.db left anywhere."""
    import zipfile
    monkeypatch.chdir(tmp_path)
    assert make_student.main(["-o", str(tmp_path / "out"), *map(str, MASTERS)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ipynb")) == [m.name for m in MASTERS]
    written = make_student.make_student_copies(MASTERS[:1], tmp_path / "z", zip_name=make_student.ZIP_NAME)
    with zipfile.ZipFile(tmp_path / "z" / make_student.ZIP_NAME) as archive:
        assert archive.namelist() == [f"vae_course_student/{written[0].name}"]
    for student in (tmp_path / "out").glob("*.ipynb"):
        nb = nbformat.read(student, as_version=4)
        assert "widgets" not in nb.metadata, f"{student.name} kept the teacher's widget state"
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb.cells if c.cell_type == "code"), f"{student.name} kept outputs"
    assert not list(tmp_path.rglob("gradebook.db")) and not (ROOT / "gradebook.db").exists(), "a stray gradebook.db"


def test_make_student_names_the_notebook_and_cell_of_an_unclosed_solution(tmp_path, capsys):
    master = synthetic_notebook(tmp_path / "99_open.ipynb", solution=SOLUTION)
    nb = nbformat.read(master, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("### END SOLUTION", "")
    nbformat.write(nb, master)
    with pytest.raises(make_student.MarkerError, match=r"99_open.ipynb, cell 2 \(ex1\) starting 'total = 0.0': "
                                                         r"`### BEGIN SOLUTION` on line 1 is never closed"):
        make_student.make_student_copies([master], tmp_path / "out")
    assert make_student.main(["-o", str(tmp_path / "out"), str(master)]) == 1
    assert "99_open.ipynb, cell 2 (ex1)" in capsys.readouterr().err
