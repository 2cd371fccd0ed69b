"""jupyter-config/ (what `make lab` and binder/start apply, and what a hub's student image should ship) hides the
teacher's nbgrader tools and keeps the students' Assignments tab (issue 21).

nbgrader 0.9's JupyterLab extension `@jupyter/nbgrader` is six plugins (ids read from the installed bundle below):
`menu` (the Nbgrader menu; it shows only the commands that exist), `assignment-list` (the students' Assignments tab:
fetch and submit), `validate-assignment` (the Validate button), and the teacher's `formgrader`, `create-assignment`
and `course-list`. Disabling the whole extension, as jupyter-config/ once did, took the Assignments tab away too.
The server side mirrors it: `assignment_list` and `validate_assignment` stay on, `formgrader` and `course_list` off.
The checks read the configuration the way Jupyter merges it (jupyter-config/ on JUPYTER_CONFIG_PATH, above the
virtual environment's own etc/jupyter, where nbgrader enables all four server extensions).
"""
import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason='nbgrader is in the test and teach extras: pip install -e ".[test]"')

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "jupyter-config"
STUDENT_PLUGINS = {"@jupyter/nbgrader:menu", "@jupyter/nbgrader:assignment-list",
                   "@jupyter/nbgrader:validate-assignment"}
TEACHER_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list"}
STUDENT_SERVER = {"nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.validate_assignment"}
TEACHER_SERVER = {"nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"}


def installed_nbgrader_plugins() -> set[str]:
    """The plugin ids in the installed @jupyter/nbgrader lab extension's JavaScript bundle."""
    folder = Path(sys.prefix, "share", "jupyter", "labextensions", "@jupyter", "nbgrader", "static")
    if not folder.is_dir():
        pytest.skip(f"nbgrader's lab extension is not installed in {folder.parent}")
    ids = set()
    for script in folder.glob("*.js"):
        text = script.read_text(errors="replace")
        ids |= set(re.findall(r'"(@jupyter/nbgrader:[\w-]+)"', text))
    return ids


@pytest.fixture
def course_config_path(monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(CONFIG))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(ROOT / "nonexistent-user-config"))  # no ~/.jupyter in the way


def test_the_plugin_ids_exist_in_the_installed_extension():
    ids = installed_nbgrader_plugins()
    assert STUDENT_PLUGINS | TEACHER_PLUGINS <= ids, f"nbgrader's plugins changed: {sorted(ids)}"
    page = json.loads((CONFIG / "labconfig" / "page_config.json").read_text())
    named = {name for name in page["disabledExtensions"] if name.startswith("@jupyter/nbgrader")}
    assert named <= ids, f"page_config.json disables plugins nbgrader does not have: {sorted(named - ids)}"


def test_lab_hides_the_teacher_tools_and_keeps_the_assignments_tab(course_config_path):
    from jupyterlab_server.config import get_static_page_config
    disabled = {name for name, off in get_static_page_config(level="all").get("disabledExtensions", {}).items() if off}
    assert TEACHER_PLUGINS <= disabled, f"teacher plugins still on: {sorted(TEACHER_PLUGINS - disabled)}"
    assert not STUDENT_PLUGINS & disabled, f"the students lose {sorted(STUDENT_PLUGINS & disabled)}"
    assert "@jupyter/nbgrader" not in disabled, "the whole nbgrader extension is off: no Assignments tab"


def test_server_keeps_the_student_extensions_only(course_config_path):
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager
    paths = jupyter_config_path()
    assert str(CONFIG) in paths and paths.index(str(CONFIG)) < paths.index(str(Path(sys.prefix, "etc", "jupyter")))
    merged = ExtensionConfigManager(read_config_path=paths).get("jupyter_server_config")  # as ServerApp merges it
    enabled = merged["ServerApp"]["jpserver_extensions"]
    assert all(enabled.get(name) is True for name in STUDENT_SERVER), enabled
    assert all(enabled.get(name) is False for name in TEACHER_SERVER), enabled


def test_binder_start_applies_the_config():
    start = (ROOT / "binder" / "start").read_text()
    assert "JUPYTER_CONFIG_PATH=" in start and "jupyter-config" in start


def test_students_validate_button_gets_a_timeout_that_passes_training_cells(course_config_path):
    """nbgrader reads nbgrader_config.py from the JUPYTER_CONFIG_PATH folders: the Validate button's timeout."""
    from nbgrader.apps.validateapp import ValidateApp
    app = ValidateApp()
    app.load_config_file()
    assert app.config.Execute.timeout >= 1800
