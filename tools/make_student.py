"""Student copies of the notebooks, made by nbgrader's own `generate_assignment` (run without its database).

    python tools/make_student.py                 # notebooks/NN_*.ipynb -> student/, plus student/vae_course_student.zip
    python tools/make_student.py -o DIR a.ipynb  # chosen notebooks into DIR (no zip)

In a student copy every solution cell's code between `### BEGIN SOLUTION` and `### END SOLUTION` is replaced by
`# YOUR CODE HERE` / `raise NotImplementedError()` (a written answer's by "YOUR ANSWER HERE"), test cells are locked
with their `### BEGIN HIDDEN TESTS` part removed, and all outputs are cleared: what `nbgrader generate_assignment`
releases on a JupyterHub course. On top of nbgrader, the copies lose the teacher's widget state (the notebook
metadata "widgets": the progress bars of the solution runs) and any output or execution count left. Before nbgrader
runs, every master is checked for unbalanced solution / hidden-test markers, and one is reported by notebook and
cell. No gradebook database is written. Needs the `teach` extra (`pip install -e ".[teach]"`; `make student`
installs it).
"""
import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "vae_course"
ZIP_NAME = "vae_course_student.zip"
# nbgrader's delimiters (it matches them anywhere in a line), in (begin, end) pairs
REGIONS = (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))


class MarkerError(ValueError):
    """A master notebook whose solution or hidden-test markers nbgrader cannot pair."""


def marker_problems(path: Path) -> list[str]:
    """Unbalanced `### BEGIN/END SOLUTION` and `### BEGIN/END HIDDEN TESTS` markers in one notebook, one line each.

    nbgrader stops on these with a bare "Please see the above traceback for details"; each line here names the
    notebook, the cell (its index, nbgrader grade_id and first line) and what is wrong.
    """
    nb = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        first = next((line.strip() for line in cell.source.splitlines()
                      if line.strip() and not any(mark in line for pair in REGIONS for mark in pair)), "")
        where = f"{path.name}, cell {index}" + (f" ({grade_id})" if grade_id else "") + f" starting {first[:60]!r}"
        for begin, end in REGIONS:
            open_line = None
            for number, line in enumerate(cell.source.splitlines(), 1):
                if begin in line:
                    if open_line is not None:
                        problems.append(f"{where}: `### {begin}` on line {number} inside the region opened on line "
                                        f"{open_line}; close the first with `### {end}`")
                    open_line = number
                elif end in line:
                    if open_line is None:
                        problems.append(f"{where}: `### {end}` on line {number} without a `### {begin}` before it")
                    open_line = None
            if open_line is not None:
                problems.append(f"{where}: `### {begin}` on line {open_line} is never closed; add `### {end}` after "
                                "the region")
    return problems


def clean_student_copy(path: Path) -> None:
    """Drop what a teacher's run leaves that nbgrader keeps: widget state, outputs and execution counts."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, path)


def make_student_copies(notebooks, out_dir, zip_name=None) -> list[Path]:
    """Write the student copy of each notebook into out_dir (same file names) and return their paths.

    nbgrader's GenerateAssignment does the work on a throw-away course folder (source/vae_course/ ->
    release/vae_course/), with no gradebook database. It fails, naming the notebook, when a cell's nbgrader metadata
    is inconsistent (say, `### BEGIN SOLUTION` in a cell not marked as a solution).
    """
    try:
        from nbgrader.converters import GenerateAssignment
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError('make_student needs nbgrader: pip install -e ".[teach]" (or run `make student`)') from error
    notebooks = [Path(nb) for nb in notebooks]
    missing = [str(nb) for nb in notebooks if not nb.is_file()]
    if missing:
        raise FileNotFoundError(f"notebooks not found: {', '.join(missing)}; pass existing .ipynb files")
    problems = [problem for nb in notebooks for problem in marker_problems(nb)]
    if problems:
        raise MarkerError("nbgrader cannot make student copies of these cells:\n- " + "\n- ".join(problems))
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as course:
        source = Path(course, "source", ASSIGNMENT)
        source.mkdir(parents=True)
        for nb in notebooks:
            shutil.copy(nb, source / nb.name)
        config = Config()
        config.CourseDirectory.root = course
        config.CourseDirectory.assignment_id = ASSIGNMENT
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False  # what `nbgrader generate_assignment --no-db` sets
        GenerateAssignment(coursedir=CourseDirectory(config=config), config=config).start()
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for nb in notebooks:
            written.append(out_dir / nb.name)
            shutil.copy(Path(course, "release", ASSIGNMENT, nb.name), written[-1])
            clean_student_copy(written[-1])
    if zip_name:
        with zipfile.ZipFile(out_dir / zip_name, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, f"{Path(zip_name).stem}/{path.name}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="master notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "student", help="output folder (default: student/)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not args.notebooks:  # the whole set: start from an empty folder, so a renamed notebook leaves no stale copy
        for old in [*args.out.glob("*.ipynb"), args.out / ZIP_NAME]:
            old.unlink(missing_ok=True)
    try:
        written = make_student_copies(notebooks, args.out, zip_name=None if args.notebooks else ZIP_NAME)
    except (MarkerError, FileNotFoundError) as error:
        print(f"make_student: {error}", file=sys.stderr)
        return 1
    print(f"{len(written)} student copies in {args.out}" + ("" if args.notebooks else f" (and {ZIP_NAME})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
