"""The teacher's whole nbgrader flow, end to end, on three notebooks (issue 21).

A course directory made by the code behind `make course` (tools/course.py: nbgrader_config.py in grading mode
"smoke", the masters in source/vae_course/), with a local exchange in a temporary folder added to its config as a
teacher would. Then, each as the command-line call a teacher or student makes (nbgrader from this interpreter's
environment, its bin folder first on PATH, and no other flag than the exchange's student id):
generate_assignment, release_assignment; for each fake student fetch_assignment, answer, submit; collect, autograde,
generate_feedback. The students:

- `correct`: every solution cell holds the master's solution (written answers: the master's model answer);
- `untouched`: submits the released copy as fetched;
- `wrong`: every code exercise holds its plausible wrong answer from tests/wrong_answers/NN.py;
- `pasted`: every code exercise holds only literals: the answer variables' values (numbers, lists, tensors) that
  the correct student's graded run computed, pasted with full precision (harder for the grader than pasting from
  the student's own full-mode session, whose numbers differ from the smoke-mode regrade). It is submitted after
  the correct student is graded (a last cell added to the correct submission prints the values).

Asserted from the gradebook (no point total is hard-coded; each notebook's maximum comes from the gradebook): the
correct student gets every auto-graded point and its written answers wait for manual grading; untouched and wrong get
0 auto-graded points; pasted gets 0 on every exercise whose solution trains a model itself (the value depends on the
student's own run). Feedback HTML exists for every student and notebook and shows no line of a hidden test (neither
its code nor a traceback quoting it); the released copies carry no widget state; the grading runs wrote their models
into the course's grading_cache/ and nothing into the teacher's own caches.

Smoke mode keeps it lean: 4 students x 3 notebooks, 12 smoke runs. Measured on the shared 2-core machine at a load
of 12-17 (other jobs): 31 minutes wall, of which autograde 19; 4.3 minutes of CPU in all (this process and every
nbgrader and kernel under it). On the idle 2-core machine (8 December 2026) this file with two small ones took 229 s.
The seconds each nbgrader command took are printed (pytest -s).
"""
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason='nbgrader is in the test and teach extras: pip install -e ".[test]"')

from exercise_tools import (answer_names, code_exercises, harvest_source, nbgrader_meta,  # noqa: E402
                            parse_harvest, pasted_source, trains, written_answers)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import course as course_tools  # noqa: E402
import grade_all  # noqa: E402

ASSIGNMENT = course_tools.ASSIGNMENT
# 01: formulas (no training); 03: random draws; 04: training, with exercises that train their own models
NOTEBOOKS = tuple(os.environ.get("GRADING_TEST_NOTEBOOKS", "01 03 04").split())  # the variable: for debugging
MASTERS = [next((ROOT / "notebooks").glob(f"{n}_*.ipynb")) for n in NOTEBOOKS]
STUDENTS = ("correct", "untouched", "wrong", "pasted")


def wrong_answers(master: Path) -> dict:
    namespace = {}
    exec((ROOT / "tests" / "wrong_answers" / f"{master.name[:2]}.py").read_text(), namespace)
    return namespace["WRONG"]


def answer(student: str, fetched: Path, master: Path, pasted: dict | None = None) -> None:
    """Fill in the fetched student copy as `student` does."""
    nb = nbformat.read(fetched, as_version=4)
    master_nb = nbformat.read(master, as_version=4)
    masters = {nbgrader_meta(c)["grade_id"]: c for c in master_nb.cells if nbgrader_meta(c).get("grade_id")}
    written = written_answers(master_nb)
    wrong = wrong_answers(master)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        grade_id = meta["grade_id"]
        if student == "correct":
            cell.source = masters[grade_id].source
        elif student == "wrong" and grade_id not in written:
            cell.source = wrong[grade_id]
        elif student == "pasted" and grade_id not in written:
            cell.source = pasted_source(pasted.get(grade_id, {}))
    if student == "correct":  # a last cell that prints the answer values for the pasted student
        exercises = code_exercises(master_nb)
        names = sorted({name for solution, test in exercises.values() for name in answer_names(solution.source,
                                                                                                 test.source)})
        nb.cells.append(nbformat.v4.new_code_cell(harvest_source(names)))
    nbformat.write(nb, fetched)


def harvested(autograded: Path, master: Path) -> dict:
    """{grade_id: {name: value}} from the correct student's graded notebook (the last cell's output)."""
    nb = nbformat.read(autograded, as_version=4)
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    values = parse_harvest(text)
    exercises = code_exercises(nbformat.read(master, as_version=4))
    return {g: {n: values[n] for n in answer_names(s.source, t.source) if n in values}
            for g, (s, t) in exercises.items()}


def student_config(exchange: Path) -> str:
    return f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\nc.CourseDirectory.course_id = {ASSIGNMENT!r}\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    course, exchange, teacher_cache = root / "course", root / "exchange", root / "teacher_cache"
    env = {"VAE_ZOO_CACHE": str(teacher_cache / "models"), "VAE_EXPLORER_CACHE": str(teacher_cache / "explorer")}
    config = course_tools.make_course(course, MASTERS)
    with open(config, "a") as file:  # the teacher's exchange; on a hub the default /srv/nbgrader/exchange
        file.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    seconds = {}

    def run(cwd, *args, env):
        start = time.perf_counter()
        output = grade_all.nbgrader(cwd, *args, env=env)
        seconds[args[0]] = seconds.get(args[0], 0) + time.perf_counter() - start
        return output

    run(course, "generate_assignment", ASSIGNMENT, env=env)
    run(course, "release_assignment", ASSIGNMENT, env=env)

    def hand_in(student, pasted=None):
        home = root / "home" / student
        home.mkdir(parents=True)
        (home / "nbgrader_config.py").write_text(student_config(exchange))
        run(home, "fetch_assignment", ASSIGNMENT, env=env)
        for master in MASTERS:
            answer(student, home / ASSIGNMENT / master.name, master, pasted and pasted[master.name])
        run(home, "submit", ASSIGNMENT, f"--student={student}", env=env)

    for student in ("correct", "untouched", "wrong"):
        hand_in(student)
    run(course, "collect", ASSIGNMENT, "--CollectApp.check_owner=False", env=env)
    run(course, "autograde", ASSIGNMENT, env=env)
    pasted = {m.name: harvested(course / "autograded" / "correct" / ASSIGNMENT / m.name, m) for m in MASTERS}
    hand_in("pasted", pasted)
    run(course, "collect", ASSIGNMENT, "--student=pasted", "--CollectApp.check_owner=False", env=env)
    run(course, "autograde", ASSIGNMENT, "--student=pasted", env=env)
    run(course, "generate_feedback", ASSIGNMENT, env=env)
    print("seconds per nbgrader command (summed over calls):", {k: round(v) for k, v in seconds.items()})
    return {"course": course, "teacher_cache": teacher_cache, "pasted": pasted,
            "scores": {s: grade_all.scores(course, s) for s in STUDENTS}}


def cell_scores(course: Path, student: str, notebook: str) -> dict:
    """{grade_id: (score, max_score)} of one notebook's grade cells, from the gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        nb = gradebook.find_submission_notebook(notebook, ASSIGNMENT, student)
        return {grade.name: (grade.score, grade.max_score) for grade in nb.grades}


def test_correct_work_gets_every_autograded_point(graded):
    scores = graded["scores"]["correct"]
    assert sorted(scores) == sorted(m.stem for m in MASTERS)
    for name, s in scores.items():
        assert s["max_auto"] > 0, f"{name} has no auto-graded points"
        assert s["auto"] == s["max_auto"], f"{name}: the master solutions get {s['auto']} of {s['max_auto']}"
        assert s["needs_manual"] == (s["max_written"] > 0), f"{name}: written answers should await the Formgrader"


@pytest.mark.parametrize("student", ["untouched", "wrong"])
def test_untouched_and_wrong_work_get_no_autograded_point(graded, student):
    for name, s in graded["scores"][student].items():
        assert s["auto"] == 0, f"{name}: {student} submission gets {s['auto']} of {s['max_auto']} auto-graded points"


def test_pasted_numbers_do_not_pass_a_check_of_the_students_own_run(graded):
    run_dependent = 0
    for master in MASTERS:
        grades = cell_scores(graded["course"], "pasted", master.stem)
        for grade_id, (solution, test) in code_exercises(nbformat.read(master, as_version=4)).items():
            if trains(solution.source):
                run_dependent += 1
                score, maximum = grades[f"{grade_id}_test"]
                assert score == 0, (f"{master.name} {grade_id}: numbers pasted from a run "
                                    f"({graded['pasted'][master.name][grade_id]}) get {score} of {maximum}")
    if "04" in NOTEBOOKS:
        assert run_dependent, "no exercise that trains its own model among the graded notebooks"


def hidden_lines(master: Path) -> set:
    """The lines of the master's hidden test regions that appear nowhere else in it (stripped, 10+ characters)."""
    hidden, elsewhere = set(), set()
    for cell in nbformat.read(master, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
                continue
            (hidden if inside else elsewhere).add(line.strip())
    return {line for line in hidden - elsewhere if len(line) >= 10}


def page_text(html: Path) -> str:
    """What a browser shows of an HTML page (tags dropped, entities decoded), with its scripts and styles removed."""
    import html as html_module
    import re
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", html.read_text())
    return html_module.unescape(re.sub(r"<[^>]+>", "", text))


def test_feedback_and_isolated_grading_cache(graded):
    """Feedback exists and shows no hidden test: neither its code nor a traceback that quotes it (the wrong and
    untouched students fail hidden tests); the released copies carry no teacher widget state."""
    course = graded["course"]
    for master in MASTERS:
        secret = hidden_lines(master)
        assert secret, f"{master.name}: no hidden test lines found (the scan would prove nothing)"
        for student in STUDENTS:
            html = course / "feedback" / student / ASSIGNMENT / f"{master.stem}.html"
            assert html.is_file() and html.stat().st_size > 1000, f"no feedback for {student}: {html}"
            text = page_text(html)
            shown = sorted(line for line in secret if line in text)
            assert not shown and "HIDDEN TESTS" not in text, f"{student}'s feedback on {master.name} shows {shown}"
        released = nbformat.read(course / "release" / ASSIGNMENT / master.name, as_version=4)
        assert "widgets" not in released.metadata, f"released {master.name} carries the teacher's widget state"
    if "04" in NOTEBOOKS:  # 04 stores its model in the zoo
        assert (course / "grading_cache" / "models" / "smoke").is_dir(), "the grading did not use the course's cache"
    assert not graded["teacher_cache"].exists(), "autograde wrote into the teacher's own model cache"
    assert not (ROOT / "gradebook.db").exists() and not Path("gradebook.db").exists(), "a stray gradebook.db"
    print(json.dumps(graded["scores"], indent=1))


@pytest.mark.parametrize("mode", course_tools.GRADING_MODES)
def test_course_config_sets_mode_timeout_and_cache_in_the_grading_kernels_only(tmp_path, mode, monkeypatch):
    """The nbgrader_config.py that `make course` writes, read the way nbgrader reads it (traitlets' loader)."""
    import subprocess
    from traitlets.config.loader import PyFileConfigLoader
    monkeypatch.delenv("CI", raising=False)
    before = dict(os.environ)
    course_tools.make_course(tmp_path / "c", MASTERS[:1], mode=mode)
    assert (tmp_path / "c" / "source" / ASSIGNMENT / MASTERS[0].name).is_file()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path / "c")).load_config()
    assert dict(os.environ) == before, "reading the config changed this process's environment (the formgrader's)"
    assert config.CourseDirectory.course_id == "vae_course"
    assert config.CourseDirectory.root == str((tmp_path / "c").resolve())
    assert config.Execute.timeout == (1800 if mode == "full" else 600)
    assert "HideHiddenTests" in [pp.__name__ for pp in config.GenerateFeedback.preprocessors], "feedback shows tests"
    [argument] = config.Execute.extra_arguments
    assert argument.startswith("--InteractiveShellApp.exec_lines=")
    code = argument.split("=", 1)[1] + "\nimport os; print(os.environ.get('CI'), os.environ['VAE_ZOO_CACHE'])"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CI": "x"}, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [("true" if mode == "smoke" else "None"), str((tmp_path / "c").resolve() / "grading_cache" / "models")]
    # a second make_course keeps the teacher's edited config and refreshes the masters
    (tmp_path / "c" / "nbgrader_config.py").write_text("c = get_config()\n")
    course_tools.make_course(tmp_path / "c", MASTERS[:1], mode=mode)
    assert (tmp_path / "c" / "nbgrader_config.py").read_text() == "c = get_config()\n"
    with pytest.raises(ValueError, match="grading mode 'fast'"):
        course_tools.config_text("fast")


def test_grade_all_reads_each_notebooks_time_from_the_order_autograde_wrote_them(tmp_path):
    """make grade-all's per-notebook seconds: autograde writes each graded notebook as it finishes, so each one's
    time is its file's mtime minus the previous one's (the first: minus the start)."""
    folder = tmp_path / "autograded" / "correct" / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, mtime in (("02_b", 1030.0), ("01_a", 1010.0), ("03_c", 1075.5)):  # listed out of order on purpose
        path = folder / f"{name}.ipynb"
        path.write_text("{}")
        os.utime(path, (mtime, mtime))
    seconds = grade_all.notebook_seconds(tmp_path, "correct", started=1000.0)
    assert seconds == {"01_a": 10.0, "02_b": 20.0, "03_c": 45.5}, seconds
