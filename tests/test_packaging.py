"""The two install routes (pip via pyproject.toml, conda/Binder via environment.yml) must name the same packages."""
import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {name(r) for r in reqs}


def environment_names(path: str = "environment.yml") -> set[str]:
    deps = yaml.safe_load((ROOT / path).read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [r for d in deps if isinstance(d, dict) for r in d.get("pip", [])]
    return {name(r) for r in conda + pip if not r.startswith("-e")} - {"python", "pip"}


def test_environment_and_pyproject_name_the_same_packages():
    assert environment_names() == pyproject_names()
    assert environment_names("binder/environment.yml") == pyproject_names()


def test_environment_installs_the_package_itself():
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip = [r for d in deps if isinstance(d, dict) for r in d.get("pip", [])]
    assert "-e ." in pip
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()


def test_the_name_parser_sees_a_dropped_package():
    assert name("torch>=2.4") == "torch" and name("nbval") == "nbval" and name("Foo_Bar[x]==1") == "foo-bar"
    assert pyproject_names() - {"torch"} != environment_names()


def test_shipped_data_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "datafiles/*/*" in config["vae_helpers"]
    assert (ROOT / "vae_helpers" / "datafiles" / "mnist" / "SHA256SUMS").is_file()
