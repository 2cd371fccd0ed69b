import json
import os

import pytest
import torch
from cache_helpers import draws_after, fake_fit, history, provenance_of, read_only, snapshot

from vae_helpers import ConvVAE, MLPVAE, cachefiles, fit, load_mnist, set_seed, zoo


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("CI", "true")     # smoke recipes: 2 epochs on 2,000 images


@pytest.fixture
def full(monkeypatch):
    monkeypatch.delenv("CI", raising=False)   # the real recipes: 10 epochs on 60,000 images


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the cached model should have been loaded"))


def store_untrained(name, folder, **changes):
    """Store an untrained model under `name` with a history that shows the recipe's full training."""
    recipe = zoo._recipe(name)
    set_seed(0)
    model = zoo.MODELS[recipe.model](**recipe.config)
    binarize = "dynamic" if recipe.binarize == "dynamic" else None
    x, y = zoo._data(recipe)
    provenance = provenance_of(model, x, y if recipe.labels else None, recipe.lr)
    zoo.store(name, model, history(recipe.epochs, recipe.n_train, binarize, model=recipe.model, provenance=provenance,
                                   **changes), folder=folder)
    return model


def test_zoo_trains_like_notebook_04_then_loads_without_training(smoke, tmp_path, monkeypatch):
    model, history_ = zoo.load("mlp", folder=tmp_path, progress=False)    # missing: trained now
    # the same calls as notebooks/04_mlp_vae.ipynb, in smoke mode
    x_train = load_mnist("train", binarize="round")[0][:2_000]
    x_test = load_mnist("test", binarize="round")[0]
    set_seed(0)
    ref = MLPVAE(latent_dim=20, hidden=(400,))
    ref_history = fit(ref, x_train, x_test, epochs=2, seed=0, progress=False)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert history_["test_neg_elbo"] == pytest.approx(ref_history["test_neg_elbo"])
    zoo.store("mlp", ref, ref_history, folder=tmp_path / "notebook")   # notebook 04's own model is accepted
    meta = json.loads((tmp_path / "mlp.json").read_text())
    assert meta["trained"]["epochs_completed"] == 2 and meta["trained"]["n_train"] == 2_000
    assert meta["trained"]["interrupted"] is False and meta["weights"]["file"].startswith("mlp-")

    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the cached model should have been loaded"))
    again, again_history = zoo.load("mlp", folder=tmp_path)
    assert again_history == history_
    for a, b in zip(again.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_training_a_missing_model_leaves_the_callers_random_numbers_as_loading_does(smoke, tmp_path):
    trained = draws_after(lambda: zoo.load("mlp", folder=tmp_path, progress=False))    # missing: trained
    loaded = draws_after(lambda: zoo.load("mlp", folder=tmp_path, progress=False))     # now on disk: loaded
    assert trained == loaded == draws_after(lambda: None)


def test_zoo_dynamic_recipe_trains_like_notebook_04(smoke, tmp_path):
    model, _ = zoo.load("mlp_dynamic", folder=tmp_path, progress=False)
    grey_train = load_mnist("train")[0][:2_000]                          # notebook 04's calls, smoke mode
    x_test_dyn = load_mnist("test", binarize="sample", seed=0)[0]
    set_seed(0)
    ref = MLPVAE()
    fit(ref, grey_train, x_test_dyn, epochs=2, binarize="dynamic", seed=0, progress=False)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_zoo_retrains_when_the_recipe_changed(smoke, tmp_path, monkeypatch, capsys):
    store_untrained("mlp", tmp_path)
    meta = json.loads((tmp_path / "mlp.json").read_text())
    meta["recipe"]["epochs"] = 99                                           # written by an older recipe
    (tmp_path / "mlp.json").write_text(json.dumps(meta))
    calls = []
    monkeypatch.setattr(zoo, "train", lambda name, folder, progress: calls.append(name) or (None, None))
    zoo.load("mlp", folder=tmp_path)
    assert calls == ["mlp"]
    assert "another recipe (epochs 99 -> 2)" in capsys.readouterr().out


def test_store_rejects_a_1_epoch_model_under_a_10_epoch_recipe(full, tmp_path):
    set_seed(0)
    model = MLPVAE(latent_dim=20, hidden=(400,))
    with pytest.raises(ValueError, match=r"refuses this model.*1 epoch\(s\) completed, the recipe trains 10"
                                         r".*checkpoints\.save"):
        zoo.store("mlp", model, history(epochs=1), folder=tmp_path)
    assert list(tmp_path.iterdir()) == []                                   # nothing written


@pytest.mark.parametrize("changes, message", [
    (dict(done=3, interrupted=True), r"interrupted \(Ctrl-C\) after 3 epoch\(s\).*3 epoch\(s\) completed"),
    (dict(n_train=1_000), r"trained on 1,000 images, the recipe uses 60,000"),
    (dict(binarize="dynamic"), r"binarize='dynamic'\), the recipe's round binarization uses binarize=None"),
    (dict(stopped_early=True), r"stopped early"),
    (dict(seed=1), r"seed=1, the recipe uses seed=0"),
])
def test_store_says_what_differs_from_the_recipe(full, tmp_path, changes, message):
    model = MLPVAE(latent_dim=20, hidden=(400,))
    with pytest.raises(ValueError, match=message):
        zoo.store("mlp", model, history(**changes), folder=tmp_path)
    with pytest.raises(ValueError, match=r"no 'run' record.*pass the dict that fit returned"):
        zoo.store("mlp", model, {"test_neg_elbo": [1.0]}, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_zoo_store_rejects_a_model_of_another_recipe(tmp_path):
    with pytest.raises(ValueError, match="must be a ConvVAE"):
        zoo.store("conv", MLPVAE(), {}, folder=tmp_path)
    with pytest.raises(ValueError, match="latent_dim"):
        zoo.store("conv", ConvVAE(latent_dim=5), {}, folder=tmp_path)
    with pytest.raises(KeyError, match="known"):
        zoo.load("nope", folder=tmp_path)


def break_weights(folder, name):
    path = folder / json.loads((folder / f"{name}.json").read_text())["weights"]["file"]
    path.write_bytes(path.read_bytes()[:1000])                             # a save killed half-way
    return path


def break_metadata(folder, name):
    path = folder / f"{name}.json"
    path.write_text(path.read_text()[:100])
    return path


@pytest.mark.parametrize("damage, message", [(break_weights, "SHA-256 does not match"),
                                             (break_metadata, "truncated or is not JSON")])
def test_a_truncated_entry_is_named_and_trained_again(smoke, tmp_path, monkeypatch, capsys, damage, message):
    store_untrained("mlp", tmp_path)
    broken = damage(tmp_path, "mlp")
    monkeypatch.setattr(zoo, "fit", fake_fit)
    zoo.load("mlp", folder=tmp_path)                                        # no JSONDecodeError, no torch error
    out = capsys.readouterr().out
    assert str(broken) in out and message in out and "training it as notebooks/04" in out
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the rebuilt entry should load"))
    zoo.load("mlp", folder=tmp_path)
    assert "loaded 'mlp'" in capsys.readouterr().out
    assert len(list(tmp_path.glob("mlp-*.pt"))) == 1 and not list(tmp_path.glob("*.tmp"))


def test_missing_weights_are_named_and_trained_again(smoke, tmp_path, monkeypatch, capsys):
    store_untrained("conv", tmp_path)
    weights = next(tmp_path.glob("conv-*.pt"))
    weights.unlink()
    monkeypatch.setattr(zoo, "fit", fake_fit)
    zoo.load("conv", folder=tmp_path)
    assert f"{weights}: the weights file named by conv.json is missing" in capsys.readouterr().out


def test_a_read_only_complete_cache_is_used_as_it_is(smoke, tmp_path, monkeypatch, no_training):
    store_untrained("mlp", tmp_path)
    before = snapshot(tmp_path)
    read_only(monkeypatch, tmp_path)
    assert not cachefiles.writable(tmp_path)
    model, _ = zoo.load("mlp", folder=tmp_path)
    assert isinstance(model, MLPVAE)
    assert snapshot(tmp_path) == before                                     # nothing written, not even a lock


def test_a_read_only_cache_that_needs_training_says_so_before_training(smoke, tmp_path, monkeypatch, no_training):
    monkeypatch.setenv("VAE_ZOO_CACHE", str(tmp_path / "shared"))
    (tmp_path / "shared").mkdir()
    read_only(monkeypatch, tmp_path)
    with pytest.raises(PermissionError, match=r"shared/smoke is not writable.*Point VAE_ZOO_CACHE at a writable"):
        zoo.load("mlp")                                                     # no_training: fails if fit runs
    assert not (tmp_path / "shared" / "smoke").exists()


def test_an_interrupted_training_stores_nothing_and_says_so(smoke, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: history(2, 2_000, done=1, interrupted=True))
    with pytest.raises(KeyboardInterrupt):
        zoo.train("mlp", folder=tmp_path, progress=False)
    assert "'mlp' was not stored (1 of 2 epochs finished)" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == []


# --- provenance: the zoo trusts what the weights went through, not the last call's history (issue 23, item 1) ---

@pytest.fixture
def tiny(full, monkeypatch):
    """A recipe small enough to train in a test: MLPVAE(2, [16]), 2 epochs on the first 256 rounded images."""
    monkeypatch.setitem(zoo.RECIPES, "tiny", zoo.Recipe("MLPVAE", {"latent_dim": 2, "hidden": [16]},
                                                        "tests/test_zoo.py", epochs=2, n_train=256))
    return load_mnist("train", binarize="round")[0][:256]


def recipe_model(seed=0):
    set_seed(seed)                                  # what the notebook's model cell does
    return MLPVAE(latent_dim=2, hidden=(16,))


def test_a_model_trained_as_the_recipe_is_stored_and_loaded(tiny, tmp_path, monkeypatch):
    model = recipe_model()
    history_ = fit(model, tiny, epochs=2, seed=0, progress=False)          # the notebook's fit cell, run once
    zoo.store("tiny", model, history_, folder=tmp_path)
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the stored model should have been loaded"))
    loaded, _ = zoo.load("tiny", folder=tmp_path)
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert loaded.provenance["start_weights"] == zoo.expected_run(zoo.RECIPES["tiny"])["start_weights"]
    meta = json.loads((tmp_path / "tiny.json").read_text())
    assert meta["trained"]["optimizer"]["class"] == "Adam" and meta["trained"]["optimizer"]["lr"] == 1e-3


def _twice(x):
    model = recipe_model()
    fit(model, x, epochs=2, seed=0, progress=False)
    return model, fit(model, x, epochs=2, seed=0, progress=False)          # the fit cell run again: 4 epochs


def _first_history_after_a_second_fit(x):
    model = recipe_model()
    first = fit(model, x, epochs=2, seed=0, progress=False)
    fit(model, x, epochs=2, seed=0, progress=False)
    return model, first


def _with(optimizer=None, data=None, seed=0):
    def train(x):
        model = recipe_model(seed)
        opt = None if optimizer is None else optimizer(model)
        return model, fit(model, x if data is None else data(), epochs=2, seed=0, progress=False, optimizer=opt)
    return train


@pytest.mark.parametrize("train, message", [
    (_twice, r"started from other weights than the recipe's.*run\s+twice"),
    (_first_history_after_a_second_fit, r"weights are not the ones this history's run ended with"),
    (_with(optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=1e-3)), r"optimizer SGD, the recipe with .*Adam"),
    (_with(optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=5e-2)), r"lr=0.05, the recipe uses lr=0.001"),
    (_with(optimizer=lambda m: torch.optim.Adam(m.parameters(), betas=(0.5, 0.9))), r"betas=\[0.5, 0.9\]"),
    (_with(data=lambda: load_mnist("train")[0][:256]), r"trained on grey images.*the recipe on the first 256 rounded"),
    (_with(data=lambda: load_mnist("train", binarize="round")[0][256:512]), r"trained on other images"),
    (_with(seed=1), r"started from other weights"),
], ids=["fit-run-twice", "first-history", "sgd", "adam-lr", "adam-betas", "grey", "other-images", "other-weights"])
def test_store_refuses_weights_the_recipe_did_not_train(tiny, tmp_path, train, message):
    model, history_ = train(tiny)
    with pytest.raises(ValueError, match=r"refuses this model.*" + message):
        zoo.store("tiny", model, history_, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_entry_whose_record_was_edited_is_trained_again(tiny, tmp_path, monkeypatch, capsys):
    model = recipe_model()
    zoo.store("tiny", model, fit(model, tiny, epochs=2, seed=0, progress=False), folder=tmp_path)
    meta = json.loads((tmp_path / "tiny.json").read_text())
    meta["history"]["run"]["optimizer"]["class"] = "SGD"                   # a record that no longer matches
    (tmp_path / "tiny.json").write_text(json.dumps(meta))
    calls = []
    monkeypatch.setattr(zoo, "train", lambda name, folder, progress: calls.append(name) or (None, None))
    zoo.load("tiny", folder=tmp_path)
    assert calls == ["tiny"] and "records another training: trained with the optimizer SGD" in capsys.readouterr().out


@pytest.mark.parametrize("edit, message", [
    (lambda meta: meta.update(recipe="x"), r"its recipe is 'x', not an object"),
    (lambda meta: meta["history"].update(epoch=5), r"its history's 'epoch' is 5, not a list"),
    (lambda meta: meta.update(history=[]), r"its history is not an object with a 'run' record"),
    (lambda meta: meta["history"]["run"].update(optimizer="Adam"), r"its run's 'optimizer' is 'Adam', not an object"),
])
def test_an_entry_with_wrong_fields_is_named_and_trained_again(smoke, tmp_path, monkeypatch, capsys, edit, message):
    store_untrained("mlp", tmp_path)                                        # issue 23, item 14
    path = tmp_path / "mlp.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    calls = []
    monkeypatch.setattr(zoo, "train", lambda name, folder, progress: calls.append(name) or (None, None))
    zoo.load("mlp", folder=tmp_path)
    out = capsys.readouterr().out
    assert calls == ["mlp"] and f"the entry is broken: {path}: " in out and message.replace("\\", "") in out
