import json
import time

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

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
