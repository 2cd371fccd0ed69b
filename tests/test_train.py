import pytest
import torch

from vae_helpers import MLPVAE, evaluate, fit, set_seed
from vae_helpers.train import HISTORY_KEYS, TrainingDiverged


def test_short_fit_lowers_the_loss_and_fills_history(model, mnist_small):
    x, xt = mnist_small
    before = evaluate(model, xt)["neg_elbo"]
    history = fit(model, x, xt, epochs=3, batch_size=64, seed=0, progress=False)
    assert set(history) == set(HISTORY_KEYS) and history["epoch"] == [1, 2, 3]
    assert history["test_neg_elbo"][-1] < before - 100  # an untrained model is at ~543 nats (784 log 2)
    assert history["train_neg_elbo"][-1] < history["train_neg_elbo"][0]
    for split in ("train", "test"):
        for e in range(3):
            total = history[f"{split}_recon"][e] + history[f"{split}_kl"][e]
            assert history[f"{split}_neg_elbo"][e] == pytest.approx(total)
    assert all(s > 0 for s in history["seconds"])
    assert not model.training


def test_fit_is_reproducible_with_a_seed(mnist_small):
    x, xt = mnist_small
    runs = []
    for _ in range(2):
        set_seed(0)
        runs.append(fit(MLPVAE(latent_dim=4, hidden=(32,)), x, xt, epochs=1, seed=5, progress=False))
    assert runs[0]["test_neg_elbo"] == runs[1]["test_neg_elbo"]


def test_dynamic_binarization_draws_fresh_pixels(model, mnist_small, monkeypatch):
    x, _ = mnist_small
    grey = x * 0.5 + 0.25  # grey levels in [0.25, 0.75]
    seen = []
    real_bernoulli = torch.bernoulli
    monkeypatch.setattr(torch, "bernoulli", lambda p, *a, **k: seen.append(p.shape) or real_bernoulli(p, *a, **k))
    fit(model, grey[:256], epochs=2, batch_size=128, binarize="dynamic", progress=False)
    assert len(seen) == 4  # one fresh draw per batch, every epoch


def test_beta_weights_only_the_kl(mnist_small):
    x, xt = mnist_small
    set_seed(0)
    model = MLPVAE(latent_dim=4, hidden=(32,))
    history = fit(model, x, xt, epochs=2, beta=50.0, seed=0, progress=False)
    assert history["test_kl"][-1] < 1.0  # a large beta pushes q(z|x) onto the prior


def test_nan_loss_names_the_term(model, mnist_small):
    x, _ = mnist_small
    with torch.no_grad():
        model.encoder[1][-1].bias.fill_(float("nan"))  # mu and logvar become NaN
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 0: the recon and kl terms blew up"):
        fit(model, x, epochs=1, progress=False)


def test_keyboard_interrupt_keeps_finished_epochs(model, mnist_small):
    x, xt = mnist_small

    def interrupt(model, epoch, step):  # 8 steps an epoch: step 11 is in the middle of epoch 2
        if step == 11:
            raise KeyboardInterrupt
    history = fit(model, x, xt, epochs=5, callback=interrupt, callback_every=1, progress=False)
    assert history["epoch"] == [1] and len(history["test_neg_elbo"]) == 1
    assert torch.isfinite(model.sample(2)).all()


def test_bad_data_is_rejected(model):
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        fit(model, torch.full((10, 1, 28, 28), 255.0), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 1, 28, 28\)"):
        fit(model, torch.rand(10, 784), epochs=1, progress=False)
    with pytest.raises(ValueError, match="static binarization happens in load_mnist"):
        fit(model, torch.rand(10, 1, 28, 28), binarize="static", progress=False)
