"""Student copies and exercise checks (issue 16), for every master notebook in notebooks/.

For each notebook with nbgrader exercises (a solution cell `exN` followed by its test cell `exN_test`):
- its student copy, built by tools/make_student.py (nbgrader's own preprocessors), holds no line of any solution;
- the student copy runs top to bottom in smoke mode (CI=true) with errors only in solution and test cells, and
  every test cell fails there (a check that passes on the stub checks nothing);
- then, in the same kernel, for each exercise: the wrong answer from tests/wrong_answers/NN.py followed by the test
  cell must fail an assert (AssertionError, whose message helps the student, not a crash), and the master's
  solution followed by the test cell must pass;
- `nbgrader validate` passes on the master notebook.
A notebook without nbgrader exercises is skipped; one whose exercises lack wrong answers fails. The synthetic
notebooks at the end show that the harness itself catches a leaked solution line, a check that passes a wrong
answer, and a teaching cell that fails in the student copy.
"""
import importlib.util
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason='nbgrader is in the test and teach extras: pip install -e ".[test]"')
from nbclient import NotebookClient  # noqa: E402  (nbclient comes with nbgrader and nbconvert)
from nbgrader.validator import Validator  # noqa: E402
from traitlets.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WRONG_ANSWERS = ROOT / "tests" / "wrong_answers"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
CELL_TIMEOUT = 600


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_student = load_module(ROOT / "tools" / "make_student.py", "make_student")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises(nb) -> dict:
    """{grade_id: (solution cell, test cell)} in notebook order; a solution without its `<id>_test` cell fails."""
    solutions = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("solution")}
    tests = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade")}
    missing = [f"{g}_test" for g in solutions if f"{g}_test" not in tests]
    orphans = [g for g in tests if not (g.endswith("_test") and g[: -len("_test")] in solutions)]
    assert not missing and not orphans, (
        f"each solution cell exN needs a test cell exN_test: no test cell for {missing}, no solution for {orphans}")
    return {g: (cell, tests[f"{g}_test"]) for g, cell in solutions.items()}


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


def error_of(cell) -> str | None:
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    return f"{errors[0].ename}: {errors[0].evalue}"[:300] if errors else None


def check_exercises(master: Path, wrong: dict, workdir: Path) -> None:
    """Build the student copy of master into workdir and run every check above but `nbgrader validate`.

    Raises AssertionError listing every problem found. Runs the kernel with the current environment (set CI=true
    for smoke mode).
    """
    master_nb = nbformat.read(master, as_version=4)
    found = exercises(master_nb)
    assert found, f"{master.name} has no nbgrader exercises"
    assert set(wrong) == set(found), (
        f"tests/wrong_answers/{master.name[:2]}.py must have one wrong answer per exercise: "
        f"missing {sorted(set(found) - set(wrong))}, unknown {sorted(set(wrong) - set(found))}")
    [student_path] = make_student.make_student_copies([master], workdir)
    student_nb = nbformat.read(student_path, as_version=4)
    problems = [f"solution line leaked into the student copy: {line!r}"
                for line in leaked_solution_lines(master_nb, student_nb)]

    client = NotebookClient(student_nb, timeout=CELL_TIMEOUT, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    with client.setup_kernel():
        for index, cell in enumerate(list(student_nb.cells)):
            client.execute_cell(cell, index)
            meta, error = nbgrader_meta(cell), error_of(cell)
            if error and not (meta.get("solution") or meta.get("grade")):
                problems.append(f"teaching cell {index} fails in the student copy ({error}):\n{cell.source[:200]}")
            if meta.get("grade") and not error:
                problems.append(f"{meta['grade_id']} passes on the student's stub: it checks nothing the student wrote")

        def run(source: str) -> str | None:
            cell = nbformat.v4.new_code_cell(source)
            student_nb.cells.append(cell)
            client.execute_cell(cell, len(student_nb.cells) - 1)
            return error_of(cell)

        test_sources = {nbgrader_meta(c)["grade_id"]: c.source
                        for c in student_nb.cells if nbgrader_meta(c).get("grade")}
        for grade_id, (solution, _) in found.items():
            check = test_sources[f"{grade_id}_test"]
            if error := run(wrong[grade_id]):
                problems.append(f"the wrong answer for {grade_id} itself raises ({error}); it should run and be wrong")
            elif not (error := run(check)):
                problems.append(f"{grade_id}_test passes the wrong answer in tests/wrong_answers/{master.name[:2]}.py")
            elif not error.startswith("AssertionError"):
                problems.append(f"{grade_id}_test crashes on the wrong answer ({error}) instead of failing an assert "
                                "whose message helps the student")
            if error := run(solution.source):
                problems.append(f"the master solution of {grade_id} raises: {error}")
            elif error := run(check):
                problems.append(f"{grade_id}_test fails on the master solution: {error}")
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


SOLUTION = "total = 0.0\nfor v in values:\n    total += v\nmean = total / len(values)"
WRONG = {"ex1": "total = 0.0\nfor v in values:\n    total += v\nmean = total  # forgot to divide by the count"}


def synthetic_notebook(path: Path, solution=SOLUTION,
                       check='assert abs(mean - 2.0) < 1e-9, f"expected the mean of values, 2.0; got {mean}"',
                       after=()) -> Path:
    """A teaching cell, then one exercise: the mean of [1, 2, 3]; `after` adds cells after the exercise."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import os\nsmoke_test = "CI" in os.environ\nvalues = [1.0, 2.0, 3.0]\nvalues'),
        nbformat.v4.new_markdown_cell("## Exercise 1\nCompute the mean of `values` as `mean`."),
        solution_cell("ex1", f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION"),
        grade_cell("ex1", f'{check}\nprint("ex1: correct")'),
        *[nbformat.v4.new_code_cell(source) for source in after],
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_harness_passes_a_good_exercise(tmp_path, smoke_mode):
    check_exercises(synthetic_notebook(tmp_path / "99_good.ipynb"), WRONG, tmp_path / "student")
    student = nbformat.read(tmp_path / "student" / "99_good.ipynb", as_version=4)
    assert "raise NotImplementedError()" in student.cells[2].source
    assert validate(tmp_path / "99_good.ipynb") == {}


def test_harness_catches_a_leaked_solution_line(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_leak.ipynb")
    nb = nbformat.read(master, as_version=4)
    nb.cells[2].source = "count = len(values)\n" + nb.cells[2].source  # a solution line outside the markers
    nbformat.write(nb, master)
    with pytest.raises(AssertionError, match="solution line leaked.*count = len"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_catches_a_check_that_passes_a_wrong_answer(tmp_path, smoke_mode):
    master = synthetic_notebook(tmp_path / "99_lenient.ipynb", check='assert mean > 0, "expected a positive mean"')
    with pytest.raises(AssertionError, match="ex1_test passes the wrong answer"):
        check_exercises(master, WRONG, tmp_path / "student")


def test_harness_catches_a_check_that_crashes_on_a_wrong_answer(tmp_path, smoke_mode):
    with pytest.raises(AssertionError, match="ex1_test crashes on the wrong answer .TypeError"):
        check_exercises(synthetic_notebook(tmp_path / "99_crash.ipynb"), {"ex1": "mean = 'two'"}, tmp_path / "s")


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


def test_make_student_writes_every_notebook_and_the_zip(tmp_path):
    """The `make student` command line, on all master notebooks (nbgrader refuses inconsistent metadata)."""
    import zipfile
    assert make_student.main(["-o", str(tmp_path), *map(str, MASTERS)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [m.name for m in MASTERS]
    written = make_student.make_student_copies(MASTERS[:1], tmp_path / "z", zip_name=make_student.ZIP_NAME)
    with zipfile.ZipFile(tmp_path / "z" / make_student.ZIP_NAME) as archive:
        assert archive.namelist() == [f"vae_course_student/{written[0].name}"]
    for student in tmp_path.glob("*.ipynb"):
        nb = nbformat.read(student, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{student.name} kept outputs"
