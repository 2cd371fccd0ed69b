import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_helpers import MLPVAE, losses, set_seed
from vae_helpers.losses import (bernoulli_log_likelihood, gaussian_log_likelihood, kl_normal, kl_normal_normal,
                                log_likelihood, softplus)


def kl(mu, log_sigma):
    return kl_normal(torch.tensor([[mu]]), torch.tensor([[2 * log_sigma]])).item()


def test_kl_exact_values():
    assert kl(0.0, 0.0) == 0.0
    assert kl(2.0, 0.0) == pytest.approx(2.0, abs=1e-6)
    assert kl(0.0, 1.0) == pytest.approx(2.194528, abs=1e-6)  # (e^2 - 1 - 2) / 2


def test_kl_sums_latent_dims_per_sample():
    mu = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    assert kl_normal(mu, logvar).tolist() == pytest.approx([2.0 + 2.194528, 0.0], abs=1e-5)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 10, generator=g), torch.randn(64, 10, generator=g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_normal(mu, logvar), ref, rtol=1e-5, atol=1e-5)


def test_kl_normal_normal_matches_torch_and_reduces_to_standard():
    g = torch.Generator().manual_seed(1)
    mq, lq, mp, lp = (torch.randn(32, 5, generator=g) for _ in range(4))
    ref = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())).sum(-1)
    torch.testing.assert_close(kl_normal_normal(mq, lq, mp, lp), ref, rtol=1e-5, atol=1e-5)
    zeros = torch.zeros_like(mq)
    torch.testing.assert_close(kl_normal_normal(mq, lq, zeros, zeros), kl_normal(mq, lq))


def test_bernoulli_log_likelihood_matches_explicit_formula_and_is_stable():
    logits = torch.tensor([[0.0, 2.0, -3.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    explicit = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(logits, x), explicit)
    big = bernoulli_log_likelihood(torch.tensor([[200.0]]), torch.tensor([[0.0]]))
    assert big.item() == pytest.approx(-200.0)  # sigmoid then log would give -inf


def test_softplus_matches_torch_in_value_and_gradient_even_at_zero_and_extremes():
    l = torch.cat([torch.tensor([-200.0, -30.0, -1.0, 0.0, 1.0, 30.0, 200.0]), 5 * torch.randn(1000)])
    l.requires_grad_()
    ours = softplus(l)
    ours.sum().backward()
    torch.testing.assert_close(ours, F.softplus(l.detach()), atol=2e-7, rtol=1e-6)
    torch.testing.assert_close(l.grad, torch.sigmoid(l.detach()))
    assert l.grad[3].item() == 0.5          # sigmoid(0): a kinked max(l, 0) in the gradient would give 0 or 1


@pytest.mark.parametrize("bad", [torch.full((2, 3), 255.0), torch.full((2, 3), -0.5), torch.full((2, 3), float("nan"))])
def test_bernoulli_rejects_pixels_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        bernoulli_log_likelihood(torch.zeros(2, 3), bad)


def test_gaussian_log_likelihood_matches_torch():
    g = torch.Generator().manual_seed(2)
    x, mean, logvar = (torch.randn(4, 1, 2, 2, generator=g) for _ in range(3))
    ref = Normal(mean, (0.5 * logvar).exp()).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, logvar), ref)
    fixed = gaussian_log_likelihood(x, mean, 0.0)
    torch.testing.assert_close(fixed, Normal(mean, 1.0).log_prob(x).flatten(1).sum(1))


def test_elbo_terms_per_sample(model, x_batch):
    terms = losses.elbo(model, x_batch, beta=3.0)
    assert terms.loss.shape == terms.recon.shape == terms.kl.shape == (8,)
    torch.testing.assert_close(terms.loss, terms.recon + 3.0 * terms.kl)
    assert (terms.kl >= 0).all()


def test_iwae_at_least_elbo_and_grows_with_k(model, mnist_small):
    x = mnist_small[1][:200]
    torch.manual_seed(0)
    with torch.no_grad():
        neg_elbo = losses.elbo(model, x).recon + losses.elbo(model, x).kl
    estimates = {}
    for k in (1, 10, 100):
        torch.manual_seed(0)
        estimates[k] = log_likelihood(model, x, k=k).mean().item()
    assert estimates[1] < estimates[10] < estimates[100]
    assert estimates[100] >= -neg_elbo.mean().item()


def test_iwae_chunking_gives_same_estimate(model, mnist_small, monkeypatch):
    """Chunks (how k = 5000 fits in memory) must combine to the one-chunk estimate for the same noise."""
    x = mnist_small[1][:20]
    eps = torch.randn(20, 64, model.config.latent_dim, generator=torch.Generator().manual_seed(3))  # (B, k, D)

    def run(**kwargs):
        drawn = []

        def fake_randn(B, n, D, device=None):
            drawn.append(n)
            start = sum(drawn[:-1])
            return eps[:, start:start + n]
        monkeypatch.setattr(torch, "randn", fake_randn)
        out = log_likelihood(model, x, k=64, batch_size=20, **kwargs)
        monkeypatch.undo()
        return out, drawn

    whole, drawn_whole = run()
    chunked, drawn_chunked = run(max_elements=20 * 784 * 8)
    assert drawn_whole == [64] and drawn_chunked == [8] * 8
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-4)


def _reference_log_weights(model, x, eps, likelihood):
    """log p(x|z) + log p(z) - log q(z|x) written with torch.distributions, for given noise eps (B, k, D)."""
    mu, logvar = model.encode(x)
    q = Normal(mu[:, None], (0.5 * logvar).exp()[:, None])
    z = q.loc + q.scale * eps                                              # (B, k, D)
    decoded = model.decode(z.flatten(0, 1)).view(*z.shape[:2], -1)        # (B, k, 784)
    target = x.flatten(1)[:, None]
    if likelihood == "bernoulli":
        log_px_z = Bernoulli(logits=decoded).log_prob(target.expand_as(decoded)).sum(-1)
    elif likelihood == "bernoulli_grey":   # x log sigmoid(l) + (1 - x) log sigmoid(-l), for x in [0, 1]
        log_px_z = (target * F.logsigmoid(decoded) + (1 - target) * F.logsigmoid(-decoded)).sum(-1)
    else:
        log_px_z = Normal(decoded, math.exp(0.5 * model.config.obs_logvar)).log_prob(target).sum(-1)
    return log_px_z + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1)


@pytest.mark.parametrize("likelihood", ["bernoulli", "bernoulli_grey", "gaussian"])
def test_log_weights_match_torch_distributions(x_batch, likelihood):
    set_seed(0)
    model = MLPVAE(latent_dim=4, hidden=(32,), likelihood=likelihood.removesuffix("_grey"), obs_logvar=-1.0)
    if likelihood == "bernoulli_grey":
        x_batch = x_batch * 0.6 + 0.2                                      # grey pixels: the general path
    torch.manual_seed(5)
    ours = losses.log_weights(model, x_batch, k=7)                         # one chunk: one randn(B, 7, D)
    torch.manual_seed(5)
    eps = torch.randn(len(x_batch), 7, 4)                                  # (B, k, D)
    with torch.no_grad():
        ref = _reference_log_weights(model, x_batch, eps, likelihood)
    assert ours.shape == (8, 7)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-3)


def test_log_likelihood_curve_uses_nested_prefixes_of_one_draw(model, x_batch):
    torch.manual_seed(2)
    lw = losses.log_weights(model, x_batch, k=50)
    torch.manual_seed(2)
    curve = losses.log_likelihood_curve(model, x_batch, ks=(1, 10, 50))
    torch.testing.assert_close(curve[1], lw[:, 0])                         # k = 1: one ELBO sample
    torch.testing.assert_close(curve[10], torch.logsumexp(lw[:, :10], 1) - math.log(10))
    torch.manual_seed(2)
    torch.testing.assert_close(curve[50], log_likelihood(model, x_batch, k=50))


def test_iwae_rejects_bad_k(model, x_batch):
    with pytest.raises(ValueError, match="positive"):
        log_likelihood(model, x_batch, k=0)


def test_log_2pi_constant():
    assert losses.LOG_2PI == pytest.approx(math.log(2 * math.pi))


def test_log_normal_diag_matches_torch():
    torch.manual_seed(0)
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    ref = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(losses.log_normal_diag(z, mu, logvar), ref)
