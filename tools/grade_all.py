"""Autograde every notebook for one student who submits the master solutions, and time it (`make grade-all`).

    python tools/grade_all.py                  # grading mode "smoke" (the course default)
    python tools/grade_all.py --mode full      # the students' full setting: slow (every zoo model is trained first)
    python tools/grade_all.py --keep DIR       # build the course in DIR and keep it (default: a temporary folder)

It builds a course directory with tools/course.py (what `make course` writes), runs `nbgrader generate_assignment`,
places the masters as the submission of student `correct`, runs `nbgrader autograde` and reads the gradebook. It
exits non-zero unless every notebook gets all its auto-graded points. nbgrader runs from this interpreter's
environment (its bin folder first on PATH), as the course's README asks.

It prints each notebook's points and seconds (from the times autograde wrote the graded notebooks), the total, and
the sum for notebooks 01-12. Measured on the idle 2-core machine on 8 December 2026, 67 / 67 auto-graded points each
time: smoke mode, autograde 260 s for 14 notebooks (225 s for 01-12; the whole script 282 s); full mode from an empty
grading cache, autograde 2683 s (2252 s for 01-12); a second student in that course, its models cached, 1792 s.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course as course_tools  # noqa: E402

ASSIGNMENT = course_tools.ASSIGNMENT


def nbgrader_env(extra: dict | None = None) -> dict:
    """The environment for an nbgrader command: this Python's bin folder first on PATH (nbgrader runs `alembic`)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("CI", None)  # the course's nbgrader_config.py alone decides the grading mode
    env.update(extra or {})
    return env


def nbgrader(cwd: Path, *args: str, env: dict | None = None, timeout: float = 3600) -> str:
    """Run `nbgrader ARGS` in cwd; return its output, or raise naming the command with the end of its output."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    result = subprocess.run(command, cwd=cwd, env=nbgrader_env(env), capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if result.returncode != 0 or " ERROR]" in output:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` in {cwd} failed (exit {result.returncode}):\n{output[-4000:]}")
    return output


def place_submission(course: Path, student: str, notebooks) -> Path:
    """Put notebooks as student's submission in submitted/<student>/vae_course/ (what `nbgrader collect` does)."""
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        shutil.copy(nb, folder / Path(nb).name)
    (folder / "timestamp.txt").write_text("2026-01-01 12:00:00.000000 UTC")
    return folder


def scores(course: Path, student: str) -> dict:
    """{notebook name: {auto, max_auto, written_max, needs_manual}} for one student, read from the course gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return {nb.name: {"auto": nb.code_score, "max_auto": nb.max_code_score, "max_written": nb.max_written_score,
                          "needs_manual": nb.needs_manual_grade}
                for nb in submission.notebooks}


def notebook_seconds(course: Path, student: str, started: float) -> dict:
    """{notebook name: seconds} from the times autograde wrote each graded notebook (it writes them one by one, in
    order, as each finishes; started is time.time() when autograde began). Includes the kernel's start."""
    folder = course / "autograded" / student / ASSIGNMENT
    written = sorted((p.stat().st_mtime, p.stem) for p in folder.glob("*.ipynb"))
    seconds, previous = {}, started
    for mtime, name in written:
        seconds[name], previous = mtime - previous, mtime
    return seconds


def grade_all(course: Path, mode: str) -> dict:
    course_tools.make_course(course, mode=mode)
    nbgrader(course, "generate_assignment", ASSIGNMENT)
    place_submission(course, "correct", course_tools.master_notebooks())
    start, started = time.perf_counter(), time.time()
    nbgrader(course, "autograde", ASSIGNMENT, timeout=6 * 3600)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "scores": scores(course, "correct"),
            "per_notebook": notebook_seconds(course, "correct", started)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=course_tools.GRADING_MODES, default="smoke")
    parser.add_argument("--keep", type=Path, help="course directory to build and keep (must not exist yet)")
    args = parser.parse_args(argv)
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep} exists; name a new folder")
    with tempfile.TemporaryDirectory(prefix="vae_course_") as tmp:
        course = args.keep or Path(tmp)
        result = grade_all(course, args.mode)
    short = [name for name, s in result["scores"].items() if s["auto"] != s["max_auto"] or not s["max_auto"]]
    for name, s in sorted(result["scores"].items()):
        took = result["per_notebook"].get(name)
        print(f"{name}: {s['auto']:g} / {s['max_auto']:g} auto-graded points"
              + (f" (+{s['max_written']:g} written, graded by hand)" if s["max_written"] else "")
              + (f", {took:.0f} s" if took is not None else ""))
    total = sum(s["auto"] for s in result["scores"].values())
    maximum = sum(s["max_auto"] for s in result["scores"].values())
    print(f"grading mode {args.mode!r}: {len(result['scores'])} notebooks autograded in {result['seconds']:.0f} s; "
          f"{total:g} / {maximum:g} auto-graded points")
    first_twelve = [result["per_notebook"].get(nb.stem) for nb in course_tools.master_notebooks()[:12]]
    if len(first_twelve) == 12 and None not in first_twelve:
        print(f"notebooks 01-12 alone: {sum(first_twelve):.0f} s")
    if short or len(result["scores"]) != len(course_tools.master_notebooks()):
        print(f"NOT full marks: {', '.join(short) or 'notebooks missing from the gradebook'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
