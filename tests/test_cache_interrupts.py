"""Real Ctrl-C (SIGINT) and real concurrency against the caches: each test trains in subprocesses, on tiny data."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vae_helpers import explorer, zoo

ROOT = Path(__file__).resolve().parents[1]
TINY = "explorer.SweepConfig(hidden=(16,), epochs=2, n_train=256, n_test=128, betas=(0.5, 4.0), latent_sizes=(2, 3))"
# In the child: Ctrl-C raises KeyboardInterrupt (a shell may have started us with SIGINT ignored), and fit's
# callback announces the end of an epoch, then waits there for the signal: the signal lands inside fit.
PRELUDE = """
import functools, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from vae_helpers import explorer, zoo

def wait_for_ctrl_c(module, on_call):
    # module.fit, replaced: its call number `on_call` says READY at its first callback, then waits there
    real_fit, calls = module.fit, []
    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == on_call:
            def callback(*a, **k):
                print("READY", flush=True)
                time.sleep(120)
            kwargs["callback"] = callback
        return real_fit(*args, **kwargs)
    module.fit = fit
"""


def child(code: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "VAE_ZOO_CACHE": str(tmp_path / "zoo"), "VAE_EXPLORER_CACHE": str(tmp_path / "explorer")}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(code)], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def interrupt_when_ready(proc: subprocess.Popen) -> str:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "READY":
            proc.send_signal(signal.SIGINT)                       # one Ctrl-C, as in a terminal or a notebook
            break
    else:
        pytest.fail("the child never reached its training:\n" + "".join(lines))
    rest, _ = proc.communicate(timeout=120)
    return "".join(lines) + rest


def test_ctrl_c_in_zoo_train_stores_nothing_and_the_next_call_retrains(tmp_path, monkeypatch, capsys):
    out = interrupt_when_ready(child("""
        wait_for_ctrl_c(zoo, on_call=1)
        zoo.train("mlp", progress=False)
        print("STORED ANYWAY")
    """, tmp_path))
    assert "KeyboardInterrupt" in out and re.search(r"'mlp' was not stored \(\d of 2 epochs finished\)", out), out
    assert "STORED ANYWAY" not in out
    folder = tmp_path / "zoo" / "smoke"
    assert not [p.name for p in folder.iterdir() if p.name != ".mlp.lock"] if folder.exists() else True
    monkeypatch.setenv("CI", "true")
    model, history = zoo.load("mlp", folder=folder, progress=False)       # the next call retrains
    assert "is not in" in capsys.readouterr().out and len(history["epoch"]) == 2
    assert zoo.load("mlp", folder=folder)[1] == history


def test_ctrl_c_in_an_explorer_build_keeps_finished_models_only(tmp_path, monkeypatch):
    out = interrupt_when_ready(child(f"""
        wait_for_ctrl_c(explorer, on_call=2)
        cache = explorer.Cache(None, {TINY})
        cache.build(progress=False)
        print("BUILT ANYWAY")
    """, tmp_path))
    assert "Stopped: 1 of 4 models were trained and kept" in out and "KeyboardInterrupt" in out, out
    assert "BUILT ANYWAY" not in out
    tiny = eval(TINY)                                                       # noqa: S307 (our own constant)
    cache = explorer.Cache(tmp_path / "explorer", tiny)                     # not smoke/: folder given
    [sweep] = (tmp_path / "explorer" / "smoke").iterdir()
    assert sweep.name == f"sweep-{explorer.config_key(tiny)}"
    assert sorted(p.name.split("-")[0] for p in sweep.glob("*.pt")) == ["beta0.5_z2"]
    assert sorted(p.name for p in sweep.glob("*.json")) == ["beta0.5_z2.json", "config.json"]
    assert not list(sweep.glob("*.tmp"))
    cache = explorer.Cache(sweep, tiny)
    assert cache.settings() == [(0.5, 2)]
    cache.build(progress=False)                                             # the next build trains the rest
    assert cache.settings() == [(0.5, 2), (0.5, 3), (4.0, 2), (4.0, 3)]


def test_two_processes_building_the_same_entries_leave_valid_files(tmp_path, monkeypatch):
    code = f"""
        zoo.train("mlp", progress=False)
        explorer.Cache(None, {TINY}).build(progress=False)
        print("DONE")
    """
    procs = [child(code, tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 and "DONE" in out for p, out in zip(procs, outs)), outs
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the stored model should load"))
    monkeypatch.setattr(explorer, "fit", lambda *a, **k: pytest.fail("the stored models should load"))
    folder = tmp_path / "zoo" / "smoke"
    zoo.load("mlp", folder=folder)
    assert len(list(folder.glob("mlp-*.pt"))) == 1 and not list(folder.glob(".*.tmp"))
    cache = explorer.Cache(tmp_path / "explorer" / "smoke", eval(TINY))     # noqa: S307
    assert cache.missing() == [] and len(list(cache.folder.glob("beta*.pt"))) == 4
    for beta, latent_dim in cache.settings():
        assert cache.model(beta, latent_dim).config.latent_dim == latent_dim
    assert json.loads((cache.folder / "config.json").read_text())["hidden"] == [16]
