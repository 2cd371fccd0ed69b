import json

import pytest
import torch

from vae_helpers import ConvVAE, MLPVAE, fit, load_mnist, set_seed, zoo


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("CI", "true")     # smoke recipes: 2 epochs on 2,000 images


def test_zoo_trains_like_notebook_04_then_loads_without_training(smoke, tmp_path, monkeypatch):
    model, history = zoo.load("mlp", folder=tmp_path, progress=False)    # missing: trained now
    # the same calls as notebooks/04_mlp_vae.ipynb, in smoke mode
    x_train = load_mnist("train", binarize="static")[0][:2_000]
    x_test = load_mnist("test", binarize="static")[0]
    set_seed(0)
    ref = MLPVAE(latent_dim=20, hidden=(400,))
    ref_history = fit(ref, x_train, x_test, epochs=2, seed=0, progress=False)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert history["test_neg_elbo"] == pytest.approx(ref_history["test_neg_elbo"])

    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the cached model should have been loaded"))
    again, again_history = zoo.load("mlp", folder=tmp_path)
    assert again_history == history
    for a, b in zip(again.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_zoo_dynamic_recipe_trains_like_notebook_04(smoke, tmp_path):
    model, _ = zoo.load("mlp_dynamic", folder=tmp_path, progress=False)
    grey_train = load_mnist("train")[0][:2_000]                          # notebook 04's calls, smoke mode
    x_test_dyn = load_mnist("test", binarize="dynamic", seed=0)[0]
    set_seed(0)
    ref = MLPVAE()
    fit(ref, grey_train, x_test_dyn, epochs=2, binarize="dynamic", seed=0, progress=False)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_zoo_retrains_when_the_recipe_changed(smoke, tmp_path, monkeypatch):
    set_seed(0)
    model = MLPVAE(latent_dim=20, hidden=(400,))
    zoo.store("mlp", model, {"test_neg_elbo": [1.0]}, folder=tmp_path)
    meta = json.loads((tmp_path / "mlp.json").read_text())
    meta["recipe"]["epochs"] = 99                                           # written by an older recipe
    (tmp_path / "mlp.json").write_text(json.dumps(meta))
    calls = []
    monkeypatch.setattr(zoo, "train", lambda name, folder, progress: calls.append(name) or (None, None))
    zoo.load("mlp", folder=tmp_path)
    assert calls == ["mlp"]


def test_zoo_store_rejects_a_model_of_another_recipe(tmp_path):
    with pytest.raises(ValueError, match="must be a ConvVAE"):
        zoo.store("conv", MLPVAE(), {}, folder=tmp_path)
    with pytest.raises(ValueError, match="latent_dim"):
        zoo.store("conv", ConvVAE(latent_dim=5), {}, folder=tmp_path)
    with pytest.raises(KeyError, match="known"):
        zoo.load("nope", folder=tmp_path)
