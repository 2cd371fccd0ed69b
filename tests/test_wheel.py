"""The wheel a teacher hands out: built from pyproject.toml, installed into a fresh virtual environment, it runs a
notebook copied alone into an empty folder (smoke mode), and without it a notebook's setup cell says what to install.

Offline and quick: the wheel is built with --no-build-isolation (the test extra's setuptools), and the fresh venvs
reuse this environment's packages (torch, jupyter...) through a .pth file that adds its site-packages folder as a
plain path, so the editable install of vae_helpers there (a .pth import hook) is not seen: in the fresh venv,
vae_helpers comes from the wheel or from nowhere. The repository is never on the kernel's path (empty folder, no
PYTHONPATH, a HOME of its own).
"""
import hashlib
import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
NOTEBOOK = os.environ.get("VAE_WHEEL_NOTEBOOK", "04_mlp_vae.ipynb")   # the notebook run alone from the wheel
MASTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MESSAGE = "This notebook needs the course's package vae_helpers"
BUILD_FILES = ["pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT.md", "vae_helpers"]


def setuptools_for_pep639() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the files pyproject.toml packages (the work tree stays clean)."""
    if not setuptools_for_pep639():
        pytest.skip('building the wheel offline needs setuptools>=77 (in the test extra: pip install -e ".[test]")')
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in BUILD_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(dist), str(src)], check=True)
    wheels = list(dist.glob("vae_helpers-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    return wheels[0]


def fresh_venv(path: Path) -> Path:
    """A new venv over this interpreter's base Python, seeing this environment's site-packages as a plain path
    (no editable vae_helpers); returns its python."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--without-pip", "--system-site-packages", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "course_deps.pth").write_text("\n".join(deps) + "\n")
    return python


def clean_env(home: Path, **extra: str) -> dict:
    """The environment of a student's machine: no PYTHONPATH, no repository, a HOME and Jupyter folders of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "VAE_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), JUPYTER_DATA_DIR=str(home / "jupyter-data"), JUPYTER_CONFIG_DIR=str(home / "jupyter"),
               JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"), IPYTHONDIR=str(home / "ipython"),
               MPLCONFIGDIR=str(home / "matplotlib"), **extra)
    return env


EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
path, allow_errors = sys.argv[1], sys.argv[2] == "1"
nb = nbformat.read(path, as_version=4)
try:
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": "."}}).execute()
finally:
    nbformat.write(nb, path)
"""


def execute(python: Path, notebook: Path, env: dict, allow_errors: bool = False) -> subprocess.CompletedProcess:
    """Run `notebook` in place with nbclient under `python` (its kernel: that venv's python), in its own folder."""
    return subprocess.run([str(python), "-c", EXECUTE, notebook.name, "1" if allow_errors else "0"],
                          cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=1200)


# --- the wheel itself ---------------------------------------------------------------------------------------------------
def test_wheel_carries_the_package_its_data_and_the_right_metadata(wheel):
    assert wheel.name == f"vae_helpers-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist_info = f"vae_helpers-{VERSION}.dist-info"
        meta = z.read(f"{dist_info}/METADATA").decode()
        for folder in ("mnist", "fashion-mnist"):  # every shipped data file, byte for byte, with its checksum list
            sums = (ROOT / "vae_helpers" / "datafiles" / folder / "SHA256SUMS").read_text().split()
            listed = dict(zip(sums[1::2], sums[0::2]))
            assert listed, f"no checksums in {folder}/SHA256SUMS"
            for name, digest in listed.items():
                data = z.read(f"vae_helpers/datafiles/{folder}/{name.lstrip('*')}")
                assert hashlib.sha256(data).hexdigest() == digest, f"{folder}/{name} in the wheel is not the shipped file"
        terms = z.read("vae_helpers/datafiles/README.md").decode()
        licences = {n.rsplit("/", 1)[-1] for n in names if n.startswith(f"{dist_info}/licenses/")}
    modules = {p.name for p in (ROOT / "vae_helpers").glob("*.py")}
    assert modules <= {n.rsplit("/", 1)[-1] for n in names if n.startswith("vae_helpers/")}, "a module is missing"
    assert not [n for n in names if n.startswith(("notebooks/", "tests/", "tools/"))], "repository folders in the wheel"
    assert "CC BY-SA 3.0" in terms and "LeCun" in terms and "Zalando" in terms and "MIT" in terms

    fields = [tuple(line.split(": ", 1)) for line in meta.split("\n\n", 1)[0].splitlines() if ": " in line]
    first = dict(fields)
    assert first["Name"] == "vae_helpers" and first["Version"] == VERSION
    assert "MIT" in first["License-Expression"] and "CC-BY-SA-3.0" in first["License-Expression"]
    assert {"LICENSE", "LICENSE-CONTENT.md", "README.md"} <= licences
    assert first["Requires-Python"] == PYPROJECT["project"]["requires-python"]
    classifiers = {v for k, v in fields if k == "Classifier"}
    minimum = int(re.search(r">=3\.(\d+)", first["Requires-Python"]).group(1))
    assert f"Programming Language :: Python :: 3.{minimum}" in classifiers
    urls = {v.split(", ", 1)[0]: v.split(", ", 1)[1] for k, v in fields if k == "Project-URL"}
    assert {"Homepage", "Source"} <= set(urls), "project URLs (placeholders for the teacher) are missing"
    requires = {re.split(r"[<>=!~ ;\[]", v)[0] for k, v in fields if k == "Requires-Dist" and "extra ==" not in v}
    assert "torch" in requires and "ipywidgets" in requires
    description = meta.split("\n\n", 1)[1]
    assert "LICENSE-CONTENT.md" in description and "CC BY 4.0" in description, "the README (long description) " \
        "should name the licences"


def test_citation_file_names_the_version_and_both_licences():
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"].startswith("1.2") and citation["title"] and citation["authors"]
    assert str(citation["version"]) == VERSION, "CITATION.cff's version differs from pyproject.toml's"
    assert set(citation["license"]) == {"MIT", "CC-BY-4.0"}


def test_top_level_holds_only_project_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    top = {line.split("/", 1)[0] for line in tracked.stdout.splitlines()}
    assert {"LICENSE", "LICENSE-CONTENT.md", "CITATION.cff", "README.md", "pyproject.toml"} <= top
    junk = {t for t in top if t.endswith((".whl", ".tar.gz", ".zip", ".egg", ".egg-info", ".pyc", ".log", ".png"))
            or t in {"site", "student", "build", "dist", "test-artifacts", ".venv", "__pycache__", ".ipynb_checkpoints"}}
    assert not junk, f"not project files, committed at the top level: {sorted(junk)}"
    large = {t for t in top if (ROOT / t).is_file() and (ROOT / t).stat().st_size > 200_000}
    assert not large, f"large files at the top level: {sorted(large)}"


# --- notebooks outside the repository -----------------------------------------------------------------------------------
def test_no_notebook_reaches_into_the_repository():
    for nb_path in MASTERS:
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for pattern in (r"[\"'](\.\./|notebooks/|tools/|tests/)", r"sys\.path\.(insert|append)", r"chdir\("):
                assert not re.search(pattern, cell.source), \
                    f"{nb_path.name} depends on the repository's layout ({pattern}):\n{cell.source[:300]}"


def setup_cell(nb) -> nbformat.NotebookNode:
    """The code cell that first imports vae_helpers: the setup cell, which must carry the clear message."""
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(r"^\s*(import|from) vae_helpers", cell.source, re.M):
            return cell
    raise AssertionError("no cell imports vae_helpers")


def test_setup_cells_say_what_to_install_when_vae_helpers_is_missing(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    env = clean_env(tmp_path / "home", CI="true")
    probe = subprocess.run([str(python), "-c", "import vae_helpers"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "No module named 'vae_helpers'" in probe.stderr, f"vae_helpers should be missing here:\n{probe.stderr[-800:]}"

    cells = []
    for nb_path in MASTERS:
        cell = setup_cell(nbformat.read(nb_path, as_version=4))
        assert MESSAGE in cell.source, f"{nb_path.name}: the setup cell lacks the message for a missing vae_helpers"
        cells.append(nbformat.v4.new_code_cell(cell.source))
    alone = tmp_path / "alone"
    alone.mkdir()
    probe_nb = alone / "setup_cells.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3",
                   "display_name": "Python 3", "language": "python"}}), probe_nb)
    result = execute(python, probe_nb, env, allow_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    ran = nbformat.read(probe_nb, as_version=4)
    for nb_path, cell in zip(MASTERS, ran.cells):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"{nb_path.name}: its setup cell ran without vae_helpers"
        assert errors[0].ename == "ModuleNotFoundError", f"{nb_path.name}: {errors[0].ename}: {errors[0].evalue}"
        assert errors[0].evalue.startswith(MESSAGE), f"{nb_path.name}: unclear message {errors[0].evalue!r}"
        assert "pip install" in errors[0].evalue and "make lab" in errors[0].evalue
        assert "No module named" not in "\n".join(errors[0].traceback), f"{nb_path.name}: the bare error shows too"


def test_a_notebook_alone_in_an_empty_folder_runs_from_the_installed_wheel(wheel, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)], check=True)
    alone = tmp_path / "alone"
    alone.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json, sys, importlib.metadata\n"
        "print(json.dumps({'prefix': sys.prefix, 'vae_helpers': vae_helpers.__file__,\n"
        "                  'version': importlib.metadata.version('vae_helpers')}))"))
    path = alone / NOTEBOOK
    nbformat.write(nb, path)
    env = clean_env(tmp_path / "home", CI="true", VAE_ZOO_CACHE=str(tmp_path / "zoo"),
                    VAE_EXPLORER_CACHE=str(tmp_path / "explorer"))
    result = execute(python, path, env)
    ran = nbformat.read(path, as_version=4)
    errors = [f"{o.ename}: {o.evalue}" for c in ran.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert result.returncode == 0 and not errors, f"{NOTEBOOK} failed outside the repository: {errors}\n" \
                                                  f"{result.stderr[-3000:]}"
    where = json.loads("".join(o.get("text", "") for o in ran.cells[-1].outputs if o.output_type == "stream"))
    venv = (tmp_path / "venv").resolve()
    assert Path(where["prefix"]).resolve() == venv, f"the kernel was not the fresh venv's python: {where}"
    assert Path(where["vae_helpers"]).resolve().is_relative_to(venv), f"vae_helpers did not come from the wheel: {where}"
    assert where["version"] == VERSION
