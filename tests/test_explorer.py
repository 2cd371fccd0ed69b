import json
import time

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from cache_helpers import draws_after  # noqa: E402

from vae_helpers import explorer  # noqa: E402

TINY = explorer.SweepConfig(hidden=(16,), epochs=1, n_train=256, n_test=128, betas=(0.5, 4.0), latent_sizes=(2, 3))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    c = explorer.Cache(tmp_path_factory.mktemp("explorer"), TINY)
    c.build(progress=False)
    return c


def test_build_trains_every_grid_setting_once(cache):
    assert cache.settings() == [(0.5, 2), (0.5, 3), (4.0, 2), (4.0, 3)]
    s = cache.summary(4.0, 3)
    assert set(s) >= {"rate", "distortion", "active_units", "kl_per_dim"} and len(s["kl_per_dim"]) == 3
    assert s["rate"] == pytest.approx(sum(s["kl_per_dim"]), rel=1e-4)
    assert cache.summary(4.0, 3)["rate"] < cache.summary(0.5, 3)["rate"]  # a larger beta buys a smaller rate
    assert cache.build(progress=False) < 1.0                                # nothing left to train


def test_a_new_cache_object_reads_the_folder(cache):
    again = explorer.Cache(cache.folder, TINY)
    assert again.settings() == cache.settings()
    assert again.model(0.5, 2).config.latent_dim == 2
    assert json.loads((cache.folder / "config.json").read_text())["hidden"] == [16]


def test_panel_and_rate_distortion(cache):
    fig = explorer.panel(cache, 0.5, 3)
    assert len(fig.axes) == 4
    rd = fig.axes[3]
    assert len(rd.lines) == 3  # one curve per latent size, plus the marker


def test_widget_redraws_on_slider_move(cache):
    ex = explorer.Explorer(cache)
    first = ex.image.value
    ex.beta.value = 4.0
    assert ex.image.value != first and ex.image.value[:4] == b"\x89PNG"
    start = time.perf_counter()
    ex.beta.value = 0.5                      # rendered before: served from memory
    assert time.perf_counter() - start < 0.5
    ex.latent.value = 3
    assert "redrawn" in ex.status.value


def test_train_button_adds_an_off_grid_setting(cache):
    ex = explorer.Explorer(cache)
    ex.new_beta.value, ex.new_latent.value = 2.0, 3
    ex._train_new(None)
    assert (2.0, 3) in cache.settings() and ex.beta.value == 2.0 and ex.latent.value == 3
    ex.new_beta.value = -1.0
    ex._train_new(None)
    assert "must be positive" in ex.status.value


def test_shown_path_hides_the_home_folder(tmp_path):
    from pathlib import Path
    assert explorer.shown(Path.home() / "x" / "y") == "~/x/y"


def copy_of(cache, tmp_path):
    """A private copy of the module's cache folder, to damage or to make read-only."""
    import shutil
    return explorer.Cache(shutil.copytree(cache.folder, tmp_path / cache.folder.name), TINY)


def test_each_sweep_configuration_has_its_own_models(cache, capsys):
    from dataclasses import replace
    wider = explorer.Cache(cache.root, replace(TINY, hidden=(24,)))       # same root folder, another config
    assert wider.folder != cache.folder and wider.settings() == [] and len(wider.missing()) == 4
    assert json.loads((wider.folder / "config.json").read_text())["hidden"] == [24]
    assert json.loads((cache.folder / "config.json").read_text())["hidden"] == [16]
    for field, value in [("epochs", 3), ("n_train", 255), ("n_test", 127), ("seed", 1), ("betas", (0.5,))]:
        assert explorer.config_key(replace(TINY, **{field: value})) != cache.key, field


def test_file_names_keep_every_digit_of_beta(tmp_path):
    assert explorer._stem(1.000000001, 2) != explorer._stem(1.0, 2) == "beta1.0_z2"
    c = explorer.Cache(tmp_path, TINY)
    c.train(1.0, 2)
    c.train(1.000000001, 2)
    again = explorer.Cache(tmp_path, TINY)
    assert again.settings() == [(1.0, 2), (1.000000001, 2)]
    assert again.summary(1.000000001, 2)["beta"] == 1.000000001


@pytest.mark.parametrize("damage, message", [("pt", "SHA-256 does not match"), ("json", "truncated or is not JSON")])
def test_a_truncated_file_is_named_and_rebuilt(cache, tmp_path, capsys, damage, message):
    folder = copy_of(cache, tmp_path).folder
    meta = json.loads((folder / "beta4.0_z3.json").read_text())
    path = folder / (meta["weights"]["file"] if damage == "pt" else "beta4.0_z3.json")
    path.write_bytes(path.read_bytes()[:200])
    damaged = explorer.Cache(folder, TINY)
    out = capsys.readouterr().out
    assert str(path) in out and message in out and "trained again" in out
    assert damaged.missing() == [(4.0, 3)]
    damaged.build(progress=False)
    assert explorer.Cache(folder, TINY).settings() == cache.settings()
    assert "trained again" not in capsys.readouterr().out


def test_a_read_only_complete_cache_is_used_as_it_is(cache, tmp_path, monkeypatch):
    from cache_helpers import read_only, snapshot
    folder = copy_of(cache, tmp_path).folder
    before = snapshot(folder)
    read_only(monkeypatch, folder)
    monkeypatch.setattr(explorer, "fit", lambda *a, **k: pytest.fail("a complete cache trains nothing"))
    ex = explorer.explore(folder, TINY)
    assert ex.cache.settings() == cache.settings() and ex.image.value[:4] == b"\x89PNG"
    ex.beta.value = 4.0
    assert snapshot(folder) == before                                   # nothing written


def test_a_read_only_cache_that_needs_training_says_so_before_training(cache, tmp_path, monkeypatch):
    from cache_helpers import read_only
    folder = copy_of(cache, tmp_path).folder
    next(folder.glob("beta0.5_z2-*.pt")).unlink()
    read_only(monkeypatch, folder)
    monkeypatch.setattr(explorer, "fit", lambda *a, **k: pytest.fail("it must refuse before training"))
    with pytest.raises(PermissionError, match=rf"{folder.name} is not writable.*VAE_EXPLORER_CACHE"):
        explorer.explore(folder, TINY)
    ex = explorer.Explorer(explorer.Cache(folder, TINY))
    ex.new_beta.value, ex.new_latent.value = 2.0, 3
    ex._train_new(None)                                                  # the button says it, with the variable
    assert "not writable" in ex.status.value and "VAE_EXPLORER_CACHE" in ex.status.value


def test_ctrl_c_during_the_train_button_stores_nothing(cache, tmp_path, monkeypatch):
    from cache_helpers import fake_fit
    c = copy_of(cache, tmp_path)
    monkeypatch.setattr(explorer, "fit", lambda *a, **k: {**fake_fit(*a, **k), "interrupted": True})
    ex = explorer.Explorer(c)
    ex.new_beta.value, ex.new_latent.value = 3.0, 3
    ex._train_new(None)
    assert "Stopped" in ex.status.value and "not stored" in ex.status.value
    assert (3.0, 3) not in c.settings() and not list(c.folder.glob("beta3.0_z3*"))


def test_rate_distortion_labels_beta_and_draws_iso_elbo_lines(cache):
    import matplotlib.pyplot as plt
    fig = explorer.rate_distortion(cache, label_betas=(3,))
    ax = fig.axes[0]
    labels = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("β="))
    assert labels == sorted(f"β={b:g}" for b, z in cache.settings() if z == 3)      # only the 3-D points
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    for line in dashed:                                             # slope -1: D + R constant along each line
        (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
        assert x0 + y0 == pytest.approx(x1 + y1)
    assert dashed
    best = min(cache.summary(*s)["rate"] + cache.summary(*s)["distortion"] for s in cache.settings())
    assert dashed[0].get_ydata()[0] == pytest.approx(best)         # the first one passes through the best model
    plt.close(fig)


def test_the_sweep_trains_with_its_batch_size_and_learning_rate(tmp_path, monkeypatch):
    from dataclasses import replace
    from cache_helpers import fake_fit
    seen = {}
    monkeypatch.setattr(explorer, "fit", lambda *a, **k: seen.update(k) or fake_fit(*a, **k))
    explorer.Cache(tmp_path, replace(TINY, batch_size=32, lr=5e-3)).train(1.0, 2)
    assert seen["batch_size"] == 32 and seen["lr"] == 5e-3


def test_training_a_setting_leaves_the_callers_random_numbers_alone(tmp_path):
    c = explorer.Cache(tmp_path, TINY)
    assert draws_after(lambda: c.train(0.5, 2)) == draws_after(lambda: None)
    assert draws_after(lambda: explorer.Cache(tmp_path, TINY).model(0.5, 2)) == draws_after(lambda: None)  # loaded


# --- issue 23, items 14, 15, 21: wrong fields name the file; a loaded model must be its setting ----------------

@pytest.mark.parametrize("field, value, message", [
    ("beta", "abc", r"its beta is 'abc', not a finite number >= 0"),
    ("latent_dim", None, r"its latent_dim is None, not an integer >= 1"),
    ("rate", [1], r"its rate is \[1\], not a number"),
])
def test_a_summary_with_wrong_fields_is_named_and_rebuilt(cache, tmp_path, capsys, field, value, message):
    folder = copy_of(cache, tmp_path).folder
    path = folder / "beta4.0_z3.json"
    meta = json.loads(path.read_text())
    meta[field] = value
    path.write_text(json.dumps(meta))
    damaged = explorer.Cache(folder, TINY)
    out = capsys.readouterr().out
    assert f"{path}: " in out and message.replace("\\", "") in out.replace("\\", "") and "trained again" in out
    assert damaged.missing() == [(4.0, 3)]


def test_an_entry_naming_another_settings_weights_is_refused(cache, tmp_path, capsys):
    folder = copy_of(cache, tmp_path).folder
    z2 = json.loads((folder / "beta4.0_z2.json").read_text())
    z3 = json.loads((folder / "beta4.0_z3.json").read_text())
    z2["weights"] = z3["weights"]                               # a valid SHA-256, but the 3-D model's weights
    (folder / "beta4.0_z2.json").write_text(json.dumps(z2))
    beta = json.loads((folder / "beta0.5_z3.json").read_text())
    beta["weights"] = z3["weights"]                             # beta = 4's weights under beta = 0.5
    (folder / "beta0.5_z3.json").write_text(json.dumps(beta))
    again = explorer.Cache(folder, TINY)
    again.train = lambda b, z, progress=False: pytest.fail(f"expected a refusal message first for {b}, {z}")
    with pytest.raises(pytest.fail.Exception):
        again.model(4.0, 2)
    assert "latent_dim=3, hidden=(16,); this setting is latent_dim=2" in capsys.readouterr().out
    with pytest.raises(pytest.fail.Exception):
        again.model(0.5, 3)
    assert "its weights were trained with beta=4.0; this setting is beta=0.5" in capsys.readouterr().out


def test_sweep_configurations_that_cannot_run_as_recorded_are_refused(cache):
    with pytest.raises(ValueError, match=r"SweepConfig.n_test must be an integer >= 1 and at most 10,000"):
        explorer.SweepConfig(n_test=20_000)
    with pytest.raises(ValueError, match=r"SweepConfig.latent_sizes must be integers >= 1"):
        explorer.SweepConfig(latent_sizes=(2, 0))
    other = explorer.SweepConfig(hidden=(8,), epochs=1, n_train=256, n_test=128, betas=(1.0,), latent_sizes=(2,))
    with pytest.raises(ValueError, match=rf"{cache.folder.name} is the folder of another sweep configuration.*"
                                         r"pass the cache folder above it"):
        explorer.Cache(cache.folder, other)
