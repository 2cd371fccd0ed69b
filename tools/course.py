"""An nbgrader course directory for the series, ready to generate, release and autograde (`make course COURSE=dir`).

    python tools/course.py DIR                 # DIR/nbgrader_config.py and DIR/source/vae_course/NN_*.ipynb (all of them)
    python tools/course.py DIR a.ipynb b.ipynb # only the chosen master notebooks

Then, in DIR, with the course's virtual environment on PATH (nbgrader runs `alembic` from PATH):

    nbgrader generate_assignment vae_course    # release/vae_course/: the student copies
    nbgrader autograde vae_course              # after `nbgrader collect vae_course`: autograded/<student>/vae_course/

need no other flag or variable: the course id, the per-cell timeout, the grading mode and the grading model caches
are all in DIR/nbgrader_config.py (see COURSE_CONFIG below for what each setting does and why).
"""
import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "vae_course"
COURSE_ID = "vae_course"
GRADING_MODES = ("smoke", "full")

# The file written into the course directory. {mode} is filled in; everything else is Python that nbgrader runs
# (each nbgrader command and the formgrader read nbgrader_config.py from the folder they start in).
COURSE_CONFIG = '''\
"""nbgrader configuration of the VAE course, written by `make course` (tools/course.py in the course repository).

Run nbgrader in this folder with the course's virtual environment on PATH, e.g. `PATH=/path/to/repo/.venv/bin:$PATH`
(nbgrader starts `alembic` for its gradebook from PATH). Nothing else is needed:
    nbgrader generate_assignment vae_course && nbgrader release_assignment vae_course
    nbgrader collect vae_course && nbgrader autograde vae_course && nbgrader generate_feedback vae_course
"""
from pathlib import Path

c = get_config()  # noqa: F821  (nbgrader provides get_config when it reads this file)
HERE = Path(__file__).resolve().parent

# GRADING_MODE decides how autograde (and `nbgrader validate` run here) executes the submissions:
#   "smoke" (default): with CI=true, the notebooks' smoke mode (`smoke_test = "CI" in os.environ`): 2,000 training
#            images and 2 epochs instead of 60,000 and 10, so one student's 14 notebooks grade in 260 s on two
#            idle cores instead of 30 minutes (45 for the first student, who trains the zoo's models). Every test
#            cell checks its answer in this mode (the series' rule: no check exists only in full mode), and values
#            that depend on the run are recomputed from the student's own objects, so numbers pasted from the
#            student's own (full-mode) session do not pass.
#   "full":  the setting the students ran: every cell as in JupyterLab (CI removed). Slow; the same tests.
GRADING_MODE = "{mode}"
if GRADING_MODE not in ("smoke", "full"):
    raise ValueError(f"GRADING_MODE in {{__file__}} is {{GRADING_MODE!r}}; set it to 'smoke' or 'full'")

c.CourseDirectory.course_id = "{course_id}"
c.CourseDirectory.root = str(HERE)

# Seconds one cell may run before autograde stops it (nbgrader's default, 30 s, kills the training cells, and the
# tests after them then fail: correct work would score 0). Full mode: notebook 09's slowest cell takes 3 to 7
# minutes on a 2-core machine, so 30 minutes leave a wide margin. Smoke mode: every cell takes seconds; 10 minutes
# still pass a heavily loaded grader and stop a student's endless loop sooner.
c.Execute.timeout = 1800 if GRADING_MODE == "full" else 600

# The environment of the kernels that autograde and validate start. Set in each kernel as it starts (IPython's
# exec_lines), not in this process: nbgrader_config.py is also read by the formgrader inside your Jupyter server,
# where changing os.environ would put every notebook you open there into smoke mode.
#   CI:                 the grading mode above.
#   VAE_ZOO_CACHE, VAE_EXPLORER_CACHE: the trained-model caches of the grading runs, in grading_cache/ here, so
#                       that autograde never reads or writes your own ~/.cache/vae_helpers (students' runs stay apart
#                       from the models you trained; delete grading_cache/ to start again).
GRADING_ENV = {{
    "VAE_ZOO_CACHE": str(HERE / "grading_cache" / "models"),
    "VAE_EXPLORER_CACHE": str(HERE / "grading_cache" / "explorer"),
}}
_SET_CI = "_os.environ['CI'] = 'true'" if GRADING_MODE == "smoke" else "_os.environ.pop('CI', None)"
c.Execute.extra_arguments = [
    f"--InteractiveShellApp.exec_lines=import os as _os; _os.environ.update({{GRADING_ENV!r}}); {{_SET_CI}}; del _os"]

# Feedback (`nbgrader generate_feedback`, and the formgrader's feedback buttons) renders the autograded notebooks,
# which hold the masters' whole test cells. nbgrader's default feedback shows the hidden tests' code, and a failed
# test's traceback quotes the lines around the failing one, so feedback would hand the answers out (nbgrader issue
# #917). HideHiddenTests removes each hidden region (### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS) and cuts the
# traceback of every test cell that had one to its last line: the error and its hint. The points are unchanged.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402


class HideHiddenTests(ClearHiddenTests):
    def preprocess_cell(self, cell, resources, index):
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, index)
        if had_hidden:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{{output.ename}}: {{output.evalue}}"]
        return cell, resources


c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]
'''


def master_notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def config_text(mode: str = "smoke") -> str:
    if mode not in GRADING_MODES:
        raise ValueError(f"grading mode {mode!r}: expected one of {GRADING_MODES}")
    return COURSE_CONFIG.format(mode=mode, course_id=COURSE_ID)


def make_course(course: Path, notebooks=None, mode: str = "smoke") -> Path:
    """Write course/nbgrader_config.py and copy the masters into course/source/vae_course/; return the config's path.

    An existing nbgrader_config.py is kept (it may hold the teacher's own settings, like an exchange); the masters
    are copied afresh (an older copy of the same notebook is replaced, others are left alone).
    """
    course = Path(course)
    notebooks = [Path(nb) for nb in (notebooks or master_notebooks())]
    missing = [str(nb) for nb in notebooks if not nb.is_file()]
    if missing:
        raise FileNotFoundError(f"master notebooks not found: {', '.join(missing)}; pass existing .ipynb files")
    if course.exists() and not course.is_dir():
        raise NotADirectoryError(f"COURSE={course} is a file; name a directory (it is created when missing)")
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    config = course / "nbgrader_config.py"
    if not config.exists():
        tmp = config.with_suffix(".py.tmp")
        tmp.write_text(config_text(mode))
        tmp.replace(config)
    for nb in notebooks:  # without the teacher's widget state, which generate_assignment would pass on
        master = nbformat.read(nb, as_version=4)
        master.metadata.pop("widgets", None)
        tmp = source / f".{nb.name}.tmp"
        nbformat.write(master, tmp)
        tmp.replace(source / nb.name)
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, help="the course directory (created when missing)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="master notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--mode", choices=GRADING_MODES, default="smoke",
                        help="GRADING_MODE written into a new nbgrader_config.py (default: smoke)")
    args = parser.parse_args(argv)
    existed = (args.course / "nbgrader_config.py").exists()
    config = make_course(args.course, args.notebooks or None, mode=args.mode)
    count = len(args.notebooks or master_notebooks())
    print(f"{count} master notebooks in {args.course / 'source' / ASSIGNMENT}; "
          f"{config} {'kept as it was' if existed else f'written (GRADING_MODE = {args.mode!r})'}.\n"
          f"Next, in {args.course} with the virtual environment on PATH: nbgrader generate_assignment {ASSIGNMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
