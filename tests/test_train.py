import copy
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vae_helpers.models
from vae_helpers import ConvVAE, MLPVAE, evaluate, fit, set_seed
from vae_helpers.anomaly import scores
from vae_helpers.collapse import FreeBits
from vae_helpers.diagnostics import encode_all
from vae_helpers.digests import tensor_digest, weights_digest
from vae_helpers.losses import ELBOTerms, elbo
from vae_helpers.plots import interpolation
from vae_helpers.train import HISTORY_KEYS, TrainingDiverged, train_epoch
from vae_helpers.utils import evaluating


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
    assert all(s > 0 for s in history["seconds"]) and history["val_neg_elbo"] == [None] * 3
    run = dict(history["run"])
    provenance = {key: run.pop(key) for key in ("optimizer", "start_weights", "end_weights", "data")}
    assert run == {"model": "MLPVAE", "config": {"latent_dim": 4, "hidden": [32], "likelihood": "bernoulli",
                                                 "obs_logvar": 0.0, "activation": "relu"},
                   "epochs": 3, "n_train": 1000, "batch_size": 64, "lr": 1e-3, "beta": 1.0, "seed": 0,
                   "binarize": None, "loss_fn": "elbo"}
    assert provenance["optimizer"] == {"class": "Adam", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
                                       "weight_decay": 0, "amsgrad": False, "maximize": False,
                                       **({"decoupled_weight_decay": False}
                                          if "decoupled_weight_decay" in provenance["optimizer"] else {})}
    assert provenance["start_weights"] != provenance["end_weights"] == weights_digest(model)
    assert provenance["data"] == {"train_x": tensor_digest(x), "train_y": None}
    assert model.provenance == history["run"]           # checkpoints.save writes it beside the weights
    assert (history["interrupted"], history["stopped_early"], history["best_epoch"]) == (False, False, None)
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


# --- fit trains whatever the model computes, exactly as a hand-written autograd loop does ---------------------

def reference_fit(model, x, batch_size, seed, lr=1e-3):
    """One epoch written out with autograd and torch.optim.Adam, the same seeds as fit."""
    set_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for idx in torch.randperm(len(x), generator=generator).split(batch_size):
        xb = x[idx]
        logits, mu, logvar = model(xb)
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").flatten(1).sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        loss = (recon + kl).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def assert_fit_matches_reference(make_model, x, batch_size=64, seed=3):
    set_seed(0)
    ours = make_model()
    theirs = copy.deepcopy(ours)
    fit(ours, x, epochs=1, batch_size=batch_size, seed=seed, progress=False)
    reference_fit(theirs, x, batch_size, seed)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, msg=lambda m: f"{name}: {m}")
    return ours


def test_fit_matches_a_hand_written_autograd_loop(mnist_small):
    assert_fit_matches_reference(lambda: MLPVAE(latent_dim=4, hidden=(32,)), mnist_small[0][:256])


def test_editing_relu_to_tanh_changes_what_fit_trains(mnist_small, monkeypatch):
    x = mnist_small[0][:256]
    relu = assert_fit_matches_reference(lambda: MLPVAE(latent_dim=4, hidden=(32,)), x)
    monkeypatch.setitem(vae_helpers.models.ACTIVATIONS, "relu", nn.Tanh)  # as if models.py mapped "relu" to nn.Tanh
    tanh = assert_fit_matches_reference(lambda: MLPVAE(latent_dim=4, hidden=(32,)), x)
    assert isinstance(tanh.encoder.act1, nn.Tanh) and isinstance(tanh.decoder.act1, nn.Tanh)
    assert not torch.allclose(relu.fc_mu.weight, tanh.fc_mu.weight)


def test_added_dropout_is_trained_with(mnist_small):
    def with_dropout():
        model = MLPVAE(latent_dim=4, hidden=(32,))
        model.encoder.add_module("dropout", nn.Dropout(0.5))  # after act1
        return model
    model = assert_fit_matches_reference(with_dropout, mnist_small[0][:256])
    assert not model.training  # fit leaves eval mode: dropout off for evaluation
    x = mnist_small[0][:8]
    torch.testing.assert_close(model.encode(x)[0], model.encode(x)[0])


def test_patched_reparameterize_is_what_fit_trains(mnist_small, monkeypatch):
    calls = []

    def torch_normal(mu, logvar):  # notebook 10's pitfall: a sample that sends mu and logvar no gradient
        calls.append(mu.shape)
        return torch.normal(mu, (0.5 * logvar).exp())
    monkeypatch.setattr(vae_helpers.models, "reparameterize", torch_normal)
    assert_fit_matches_reference(lambda: MLPVAE(latent_dim=4, hidden=(32,)), mnist_small[0][:256])
    assert len(calls) == 2 * 4  # 4 steps in fit, 4 in the reference


def test_train_epoch_is_the_loop_fit_runs(mnist_small):
    x = mnist_small[0][:256]
    set_seed(0)
    a = MLPVAE(latent_dim=4, hidden=(32,))
    b = copy.deepcopy(a)
    fit(a, x, epochs=1, batch_size=64, seed=1, progress=False)
    set_seed(1)
    recon, kl = train_epoch(b, x, torch.optim.Adam(b.parameters()), 64, generator=torch.Generator().manual_seed(1))
    assert recon > 0 and kl > 0 and b.training
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_a_callback_calling_zero_grad_does_not_stop_training(mnist_small):
    x = mnist_small[0][:256]

    def zero_grad(model, epoch, step):
        model.zero_grad()
    zero_grad.every = 1  # after every step
    set_seed(0)
    a = MLPVAE(latent_dim=4, hidden=(32,))
    b = copy.deepcopy(a)
    fit(a, x, epochs=2, batch_size=64, seed=0, progress=False)
    fit(b, x, epochs=2, batch_size=64, seed=0, progress=False, callback=zero_grad)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_callbacks_run_after_each_epoch_or_every_n_steps(model, mnist_small):
    x = mnist_small[0][:256]  # 4 steps an epoch
    seen = []
    fit(model, x, epochs=2, batch_size=64, progress=False, callback=lambda m, e, s: seen.append((e, s)))
    assert seen == [(1, 4), (2, 8)]

    class EveryThree:
        every, seen = 3, []

        def __call__(self, model, epoch, step):
            self.seen.append((epoch, step))
    callback = EveryThree()
    fit(model, x, epochs=2, batch_size=64, progress=False, callback=callback)
    assert callback.seen == [(1, 3), (2, 6)]


def test_helpers_restore_the_training_mode(mnist_small):
    model = ConvVAE(latent_dim=2)  # BatchNorm: eval mode matters
    x = mnist_small[0][:16]
    for mode in (True, False):
        model.train(mode)
        with evaluating(model):
            assert not model.training
        assert model.training == mode
        encode_all(model, x)
        scores(model, x, samples=1)
        evaluate(model, x)
        interpolation(model, x[0], x[1], steps=3)
        assert model.training == mode


# --- early stopping and Ctrl-C --------------------------------------------------------------------------------

def test_early_stopping_restores_the_best_weights(model, mnist_small):
    x, _ = mnist_small
    train, val = x[:256], x[256:512]  # 16 steps an epoch
    steps = []

    def good_then_bad(model, x, beta=1.0, check_x=True):  # after 2 epochs, climb the loss instead
        steps.append(1)
        t = elbo(model, x, beta, check_x)
        return t if len(steps) <= 32 else ELBOTerms(-t.loss, t.recon, t.kl)
    kept = {}
    history = fit(model, train, epochs=20, batch_size=16, seed=0, progress=False, loss_fn=good_then_bad, val_x=val,
                  patience=2, callback=lambda m, e, s: kept.setdefault(e, copy.deepcopy(m.state_dict())))
    assert history["stopped_early"] and history["best_epoch"] == 2 and history["epoch"] == [1, 2, 3, 4]
    assert history["val_neg_elbo"][3] > history["val_neg_elbo"][2] > history["val_neg_elbo"][1]
    for name, value in model.state_dict().items():
        assert torch.equal(value, kept[2][name]), name


def test_early_stopping_needs_a_held_out_set(model, mnist_small):
    x, xt = mnist_small
    with pytest.raises(ValueError, match="patience needs val_x"):
        fit(model, x, epochs=1, patience=2, progress=False)
    with pytest.raises(ValueError, match="val_x must be held out from the training images, not the test set"):
        fit(model, x, xt, epochs=1, val_x=xt, patience=2, progress=False)


def test_keyboard_interrupt_keeps_finished_epochs(model, mnist_small, capsys):
    x, xt = mnist_small

    def interrupt(model, epoch, step):  # 8 steps an epoch: step 11 is in the middle of epoch 2
        if step == 11:
            raise KeyboardInterrupt
    interrupt.every = 1
    history = fit(model, x, xt, epochs=5, callback=interrupt, progress=False)
    assert history["interrupted"] and history["epoch"] == [1] and len(history["test_neg_elbo"]) == 1
    assert "Interrupted: returning the history of the 1 finished epoch(s)" in capsys.readouterr().out
    assert torch.isfinite(model.sample(2)).all() and not model.training


# --- divergence and bad input -----------------------------------------------------------------------------------

def test_divergence_restores_finite_weights_and_blames_the_step_size(model, mnist_small):
    x, _ = mnist_small
    with pytest.raises(TrainingDiverged, match=r"at epoch 1, step \d+ \(counted from 1\): the .* went non-finite.*"
                                               r"optimizer step\(s\) with a finite loss came before it, and the "
                                               r"weights fit restored \(from the start of epoch 1\) give a finite loss"
                                               r".*smaller learning rate \(lr=1e\+06"):
        fit(model, x, epochs=3, lr=1e6, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    fit(model, x[:128], epochs=1, progress=False)  # usable again


def test_non_finite_weights_ask_for_a_new_model_not_a_smaller_lr(model, mnist_small):
    x, _ = mnist_small
    with torch.no_grad():
        model.fc_mu.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"weights are not finite \(fc_mu.bias\).*Rebuild it") as err:
        fit(model, x, epochs=1, progress=False)
    assert "learning rate" not in str(err.value)


def test_a_callback_that_cannot_run_is_refused_before_training(model):     # issue 23, item 21
    x = torch.rand(10, 1, 28, 28)
    with pytest.raises(TypeError, match=r"callback must be a function callback\(model, epoch, step\), got 5 \(int\)"):
        fit(model, x, epochs=1, callback=5, progress=False)

    def every_minus_one(model, epoch, step):
        pass
    every_minus_one.every = -1
    with pytest.raises(ValueError, match=r"callback.every must be an integer >= 1 \(e.g. every=50 optimizer steps\), "
                                         r"got -1"):
        fit(model, x, epochs=1, callback=every_minus_one, progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -1e-3}, r"lr must be a finite number > 0, got -0.001"),
    ({"lr": float("inf")}, r"lr must be a finite number > 0, got inf"),
    ({"lr": 0}, r"lr must be a finite number > 0, got 0"),
    ({"beta": -1.0}, r"beta must be a finite number >= 0, got -1.0"),
    ({"beta": float("nan")}, r"beta must be a finite number >= 0, got nan"),
    ({"epochs": -1}, r"epochs must be an integer >= 0, got -1"),
    ({"epochs": 2.5}, r"epochs must be an integer >= 0, got 2.5"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1 \(e.g. batch_size=128\), got 0"),
    ({"patience": 0, "val_x": torch.rand(4, 1, 28, 28)}, r"patience must be an integer >= 1"),
    ({"binarize": "static"}, "rounding or one fixed draw happen in load_mnist"),
])
def test_bad_arguments_are_named(model, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        fit(model, torch.rand(10, 1, 28, 28), progress=False, **kwargs)
    assert "learning rate" not in str(err.value)


def test_bad_data_is_rejected(model):
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        fit(model, torch.full((10, 1, 28, 28), 255.0), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"train_x must hold images of shape \(N, 1, 28, 28\), got \(10, 784\): flat "
                                         r"images; reshape them with train_x.view\(-1, 1, 28, 28\)"):
        fit(model, torch.rand(10, 784), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"train_x is empty \(shape \(0, 1, 28, 28\)\)"):
        fit(model, torch.rand(0, 1, 28, 28), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"test_x is empty"):
        fit(model, torch.rand(10, 1, 28, 28), torch.rand(0, 1, 28, 28), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"train_x holds integer pixels up to 255 \(torch.uint8\).*train_x.float\(\) / 255"):
        fit(model, torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8), epochs=1, progress=False)
    with pytest.raises(TypeError, match="train_x must be a torch.Tensor"):
        fit(model, [[0.0]], epochs=1, progress=False)


def test_float64_and_binary_uint8_data_are_converted(model):
    x = torch.bernoulli(torch.full((64, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(0))
    reference = copy.deepcopy(model)
    fit(reference, x, epochs=1, batch_size=32, seed=0, progress=False)
    for data in (x.double(), x.to(torch.uint8), x.bool()):
        trained = copy.deepcopy(model)
        fit(trained, data, data, epochs=1, batch_size=32, seed=0, progress=False)
        for p, q in zip(trained.parameters(), reference.parameters()):
            assert torch.equal(p, q), data.dtype


def test_model_arguments_are_checked():
    assert MLPVAE(hidden=400).config.hidden == (400,)
    assert MLPVAE(hidden=[64, 32]).config.hidden == (64, 32)  # as checkpoints store it
    with pytest.raises(ValueError, match=r"hidden must be a positive integer or a tuple of them, e.g. hidden=\(400,\)"):
        MLPVAE(hidden=(400, 0))
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer \(e.g. latent_dim=20\), got 0"):
        MLPVAE(latent_dim=0)
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer"):
        ConvVAE(latent_dim=-2)
    with pytest.raises(ValueError, match=r"channels must be 2 positive integers, e.g. channels=\(16, 32\); got \(16,\)"):
        ConvVAE(channels=(16,))


# --- issue 23, items 2, 3, 7, 8, 13, 18: fit and train_epoch refuse what would train silently wrong ------------

def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_a_stale_optimizer_is_refused_before_any_step(mnist_small):
    x, _ = mnist_small
    set_seed(0)
    old = MLPVAE(latent_dim=4, hidden=(32,))
    optimizer = torch.optim.Adam(old.parameters())          # the optimizer cell, run once
    model = MLPVAE(latent_dim=4, hidden=(32,))              # the model cell, run again
    before = params(model)
    with pytest.raises(ValueError, match=r"optimizer does not hold 10 of the model's 10 trainable parameters "
                                         r"\(encoder.fc1.weight, .*built for another model"):
        fit(model, x, epochs=1, optimizer=optimizer, progress=False)
    with pytest.raises(ValueError, match=r"optimizer does not hold"):
        train_epoch(model, x, optimizer)
    assert all(torch.equal(a, b) for a, b in zip(before, params(model)))
    model.requires_grad_(False)                             # item 21: nothing to train
    with pytest.raises(ValueError, match=r"no trainable parameters \(requires_grad is False for all 10\)"):
        fit(model, x, epochs=1, progress=False)


def test_the_optimizers_own_lr_is_recorded_and_a_different_lr_beside_it_refused(model, mnist_small):
    x, _ = mnist_small
    history = fit(model, x[:128], epochs=1, optimizer=torch.optim.Adam(model.parameters(), lr=5e-2), progress=False)
    assert history["run"]["lr"] == 5e-2 and history["run"]["optimizer"]["lr"] == 5e-2
    with pytest.raises(ValueError, match=r"lr=0.5 differs from the optimizer's lr \(0.05\).*drop lr="):
        fit(model, x[:128], epochs=1, lr=0.5, optimizer=torch.optim.Adam(model.parameters(), lr=5e-2), progress=False)
    fit(model, x[:128], epochs=1, lr=5e-2, optimizer=torch.optim.Adam(model.parameters(), lr=5e-2), progress=False)


@pytest.mark.parametrize("lr", [np.float32(1e-3), np.float64(1e-3), torch.tensor(1e-3)])
def test_numpy_and_tensor_learning_rates_are_numbers(model, mnist_small, lr):
    history = fit(model, mnist_small[0][:128], epochs=1, lr=lr, progress=False)
    assert history["run"]["lr"] == pytest.approx(1e-3) and isinstance(history["run"]["lr"], float)


def test_a_bad_seed_is_named_before_anything_is_seeded(model, mnist_small):
    state = torch.random.get_rng_state()
    python = random.getstate()
    for seed in (1.5, -1, "0"):
        with pytest.raises(ValueError, match=rf"seed must be an integer in \[0, 2\*\*32\), e.g. seed=0, got {seed!r}"):
            fit(model, mnist_small[0][:128], epochs=1, seed=seed, progress=False)
        with pytest.raises(ValueError, match=r"seed must be an integer"):
            set_seed(seed)
    assert torch.equal(torch.random.get_rng_state(), state) and random.getstate() == python


@pytest.mark.parametrize("data, message", [
    (lambda x: x * 255, r"x ranges over \[0, 255\]"),                    # 0..255 grey levels as floats
    (lambda x: x - 0.5, r"x ranges over \[-0.5, 0.5\]"),
    (lambda x: x[:0], r"x is empty"),
    (lambda x: x.flatten(1), r"x must hold images of shape \(N, 1, 28, 28\), got \(1000, 784\)"),
])
def test_train_epoch_checks_its_data_as_fit_does(model, mnist_small, data, message):
    x, _ = mnist_small
    before = params(model)
    with pytest.raises(ValueError, match=message):
        train_epoch(model, data(x), torch.optim.Adam(model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before, params(model)))


def test_train_epoch_converts_float64_like_fit(model, mnist_small):
    x = mnist_small[0][:256]
    other = copy.deepcopy(model)
    for m, data in ((model, x), (other, x.double())):
        torch.manual_seed(0)                                     # the same reparameterization noise
        train_epoch(m, data, torch.optim.Adam(m.parameters()), generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(params(model), params(other)))


@pytest.mark.parametrize("val", [lambda xt: xt.clone(), lambda xt: xt[:], lambda xt: xt.double()],
                         ids=["clone", "view", "float64-copy"])
def test_val_x_holding_the_test_images_is_refused_by_content(model, mnist_small, val):
    x, xt = mnist_small
    with pytest.raises(ValueError, match=r"val_x holds the test images \(the same values or the same memory"):
        fit(model, x, xt, epochs=1, val_x=val(xt), patience=2, progress=False)
    fit(model, x[:128], xt, epochs=1, val_x=x[-100:], patience=2, progress=False)    # held-out training images


def test_a_float16_model_is_refused_for_training_and_evaluated_with_float32_sums(mnist_small):
    x, xt = mnist_small
    set_seed(0)
    model = MLPVAE(latent_dim=4, hidden=(32,))
    reference = evaluate(model, xt[:200].repeat(50, 1, 1, 1), batch_size=2000)["neg_elbo"]  # 10,000 images
    model.half()
    with pytest.raises(ValueError, match=r"The model is float16: .*Train in float32 \(model.float\(\)\)"):
        fit(model, x, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"The model is float16"):
        train_epoch(model, x, torch.optim.Adam(model.parameters()))
    half = evaluate(model, xt[:200].repeat(50, 1, 1, 1), batch_size=2000)["neg_elbo"]   # sums ~5e6 > float16's 65504
    assert math.isfinite(half) and half == pytest.approx(reference, rel=0.01)


def test_a_bfloat16_model_trains_with_finite_history(mnist_small):
    x, xt = mnist_small
    set_seed(0)
    model = MLPVAE(latent_dim=4, hidden=(32,)).bfloat16()
    history = fit(model, x[:300], xt[:200], epochs=1, batch_size=100, progress=False)
    assert all(100 < v < 600 for v in history["train_neg_elbo"] + history["test_neg_elbo"])


# --- issue 23, items 4, 5, 6, 19: faults never lose finished work, and say what is known ---------------------

def test_two_interrupts_during_clean_up_still_return_the_history_and_the_best_weights(model, mnist_small,
                                                                                       monkeypatch, capsys):
    import os
    import signal

    import vae_helpers.train as train_module
    x, _ = mnist_small
    sent = []

    class Bar(train_module.tqdm):
        def close(self):                          # fit's clean-up closes the bar first
            if not sent:
                sent.append(1)
                os.kill(os.getpid(), signal.SIGINT)   # a real second Ctrl-C while fit cleans up ...
                raise KeyboardInterrupt           # ... and a third, raised by the bar itself
            super().close()
    monkeypatch.setattr(train_module, "tqdm", Bar)
    validated = {}

    def stop(model, epoch, step):                 # runs after each epoch's validation
        validated[epoch] = copy.deepcopy(model.state_dict())
        if epoch == 3:
            raise KeyboardInterrupt               # the first Ctrl-C
    before = signal.getsignal(signal.SIGINT)      # whatever an earlier test or the runner installed
    history = fit(model, x[:512], epochs=6, val_x=x[512:768], patience=6, callback=stop, progress=False)
    assert sent and history["interrupted"] and history["epoch"] == [1, 2, 3]
    best = history["best_epoch"]
    assert best == 1 + min(range(3), key=history["val_neg_elbo"].__getitem__)
    for name, value in model.state_dict().items():          # what the message documents: the best epoch's weights
        assert torch.equal(value, validated[best][name]), name
    assert not model.training and history["run"]["end_weights"] == weights_digest(model)
    out = capsys.readouterr().out
    assert "Ctrl-C pressed during fit's clean-up (2 time(s)) was held" in out
    assert "the model holds the weights of its best validation epoch" in out
    assert signal.getsignal(signal.SIGINT) is before                       # the handler is put back


def test_divergence_carries_the_finished_epochs_and_does_not_blame_the_lr_for_a_nan_loss(model, mnist_small):
    x, _ = mnist_small                            # 1,000 images, batches of 128: 8 steps an epoch
    calls = []

    def nan_after_10(model, x, beta=1.0, check_x=True):
        calls.append(1)
        t = elbo(model, x, beta, check_x)
        return t if len(calls) <= 10 else ELBOTerms(t.loss * float("nan"), t.recon, t.kl)
    with pytest.raises(TrainingDiverged) as err:
        fit(model, x, epochs=3, lr=1e-8, loss_fn=nan_after_10, progress=False)
    message = str(err.value)
    assert "at epoch 2, step 11 (counted from 1): the loss (not its recon or kl) went non-finite" in message
    assert "they too give a non-finite loss (nan) on that batch, so the step size is not the cause" in message
    assert "smaller learning rate" not in message
    history = err.value.history                   # item 5: the finished epoch is kept
    assert history["epoch"] == [1] and len(history["train_neg_elbo"]) == 1 and history["run"]["lr"] == 1e-8
    assert history["run"]["end_weights"] == weights_digest(model) and not model.training


def _logvar_bias_100(model):
    with torch.no_grad():
        model.fc_logvar.bias.fill_(100.0)         # exp(100) overflows float32
    return model, elbo


@pytest.mark.parametrize("make", [
    _logvar_bias_100,
    lambda model: (MLPVAE(latent_dim=4, hidden=(32,), likelihood="gaussian", obs_logvar=-100.0), elbo),
    lambda model: (model, FreeBits(float("inf"))),
], ids=["logvar-bias-100", "obs_logvar=-100", "free-bits-inf"])
def test_a_loss_that_is_never_finite_is_not_blamed_on_the_learning_rate(model, mnist_small, make):
    model, loss_fn = make(model)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(TrainingDiverged) as err:
        fit(model, mnist_small[0], epochs=2, loss_fn=loss_fn, progress=False)
    message = str(err.value)
    assert "at epoch 1, step 1 (counted from 1)" in message
    assert "No optimizer step had been taken, so the learning rate is not the cause" in message
    assert "likely cause" not in message and err.value.history["epoch"] == []
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_early_stopping_keeps_what_was_validated_even_if_a_callback_edits_the_weights(model, mnist_small):
    x, _ = mnist_small
    validated = {}

    def edit(model, epoch, step):                 # runs after validation; the snapshot must come before it
        validated[epoch] = copy.deepcopy(model.state_dict())
        with torch.no_grad():
            model.fc_mu.bias.add_(0.5)
    history = fit(model, x[:512], epochs=3, val_x=x[512:768], patience=3, callback=edit, progress=False)
    for name, value in model.state_dict().items():
        assert torch.equal(value, validated[history["best_epoch"]][name]), name


# --- issue 23, items 11 and 12: shapes named with the argument; every scorer converts input as fit does --------

@pytest.mark.parametrize("shape, hint", [
    ((64, 784), r"got \(64, 784\): flat images; reshape them with test_x.view\(-1, 1, 28, 28\)"),
    ((64, 28, 28), r"got \(64, 28, 28\): add the channel dimension with test_x.unsqueeze\(1\)"),
    ((64, 3, 28, 28), r"got \(64, 3, 28, 28\): 3 channels per image; .*not a reshape"),
    ((64, 28, 28, 1), r"got \(64, 28, 28, 1\): channels last; move them with test_x.permute\(0, 3, 1, 2\)"),
])
def test_a_misshapen_test_x_is_named_with_its_whole_shape(model, mnist_small, shape, hint):
    with pytest.raises(ValueError, match=r"test_x must hold images of shape \(N, 1, 28, 28\), " + hint):
        fit(model, mnist_small[0], torch.rand(shape), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 1, 28, 28\), got .*" + hint.split(": ")[-1]
                       .replace("test_x", "x")):
        model(torch.rand(shape))                                   # the model's own check gives the same hint


def test_log_likelihood_and_diagnostics_convert_input_as_fit_does(model, mnist_small):
    from vae_helpers import log_likelihood
    from vae_helpers.diagnostics import active_units, kl_per_dim
    x = mnist_small[1][:20]
    torch.manual_seed(0)
    reference = log_likelihood(model, x, k=5)
    torch.manual_seed(0)
    assert torch.equal(log_likelihood(model, x.double(), k=5), reference)        # was a dtype error
    assert torch.equal(kl_per_dim(model, x.to(torch.uint8)), kl_per_dim(model, x))
    with pytest.raises(ValueError, match=r"x is empty"):
        log_likelihood(model, x[:0], k=5)                                         # was an aminmax() error
    with pytest.raises(ValueError, match=r"x is empty"):
        active_units(model, x[:0])
    double = copy.deepcopy(model).double()
    torch.manual_seed(0)
    assert torch.allclose(log_likelihood(double, x, k=5), reference.double(), atol=1e-3)   # a .double() model
    set_seed(0)
    gaussian = MLPVAE(latent_dim=4, hidden=(32,), likelihood="gaussian")
    grey = x.clone()
    grey[3, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN or infinite pixels"):
        log_likelihood(gaussian, grey, k=5)                                       # was a silent nan
    with pytest.raises(ValueError, match=r"ks \(or k\) must be positive integers"):
        log_likelihood(model, x, k=0)
