"""Student copies of the notebooks, made by nbgrader's own `generate_assignment` (run without its database).

    python tools/make_student.py                 # notebooks/NN_*.ipynb -> student/, plus student/vae_course_student.zip
    python tools/make_student.py -o DIR a.ipynb  # chosen notebooks into DIR (no zip)

In a student copy every solution cell's code between `### BEGIN SOLUTION` and `### END SOLUTION` is replaced by
`# YOUR CODE HERE` / `raise NotImplementedError()`, test cells are locked (hidden tests removed), and all outputs are
cleared: exactly what `nbgrader generate_assignment` releases on a JupyterHub course. Needs the `teach` extra
(`pip install -e ".[teach]"`; `make student` installs it).
"""
import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "vae_course"
ZIP_NAME = "vae_course_student.zip"


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
    written = make_student_copies(notebooks, args.out, zip_name=None if args.notebooks else ZIP_NAME)
    print(f"{len(written)} student copies in {args.out}" + ("" if args.notebooks else f" (and {ZIP_NAME})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
