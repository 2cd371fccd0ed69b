import math

import pytest
import torch

from vae_helpers import fit, pitfalls, set_seed
from vae_helpers.losses import bernoulli_log_likelihood, elbo


@pytest.fixture
def x(x_batch):
    return x_batch  # conftest's binary batch; `model` is conftest's 784-32-4 MLP VAE


def encoder_grad(model, terms):
    model.zero_grad()
    terms.recon.sum().backward()
    return model.encoder.fc1.weight.grad.abs().sum().item()


def test_torch_normal_gives_the_encoder_no_gradient_from_the_reconstruction(model, x):
    assert encoder_grad(model, pitfalls.torch_normal_sample(model, x)) == 0.0
    assert encoder_grad(model, elbo(model, x)) > 0.0


def test_decode_the_mean_trains_at_mu_and_reports_the_true_terms(model, x):
    a, b = pitfalls.decode_the_mean(model, x), pitfalls.decode_the_mean(model, x)
    torch.testing.assert_close(a.loss, b.loss)                              # the objective: z = mu, no noise
    at_mu = -bernoulli_log_likelihood(model.decode(model.encode(x)[0]), x)
    torch.testing.assert_close(a.loss, at_mu + a.kl)
    torch.manual_seed(0)
    reported = pitfalls.decode_the_mean(model, x)
    torch.manual_seed(0)
    honest = elbo(model, x)                                                 # one sample z, the true -ELBO terms
    torch.testing.assert_close(reported.recon, honest.recon)
    torch.testing.assert_close(reported.kl, honest.kl)


def test_averaging_mistakes_are_betas(model, x):
    torch.manual_seed(0)
    pixels = pitfalls.mean_over_pixels(model, x)
    torch.manual_seed(0)
    as_beta = elbo(model, x, beta=784.0)
    torch.testing.assert_close(pixels.loss * 784, as_beta.loss)           # same optimum as beta = 784
    torch.manual_seed(0)
    latents = pitfalls.mean_over_latents(model, x)
    torch.manual_seed(0)
    torch.testing.assert_close(latents.loss, elbo(model, x, beta=1 / 4).loss)


def test_squashed_encoder_range(x):
    set_seed(0)
    squashed = pitfalls.SquashedMLPVAE(latent_dim=4, hidden=(16,))
    mu, logvar = squashed.encode(x)
    assert (mu > 0).all() and (mu < 1).all() and (logvar < 0).all()


def test_bce_floor_is_the_entropy():
    x = torch.full((1, 1, 28, 28), 0.3)
    expected = -784 * (0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert pitfalls.bce_floor(x).item() == pytest.approx(expected, rel=1e-5)
    assert pitfalls.bce_floor(torch.ones(2, 1, 28, 28)).max() < 1e-3


def test_fit_trains_a_mistake_and_reports_true_terms(model, x):
    history = fit(model, x, x, epochs=1, loss_fn=pitfalls.mean_over_pixels, progress=False)
    assert history["train_neg_elbo"][0] > 100  # true nats, not the per-pixel objective (~0.7)
