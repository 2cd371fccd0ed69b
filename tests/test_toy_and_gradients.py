import math

import pytest
import torch

from vae_helpers.gradients import pathwise_grad, score_function_grad
from vae_helpers.toy import LinearGaussian, kl_1d, log_normal

MODEL = LinearGaussian(w=2.0, b=0.5, s=0.8)


def test_log_marginal_matches_numerical_integration():
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    for x in (-1.0, 0.3, 2.5):
        numeric = torch.trapezoid(MODEL.log_joint(x, z).exp(), z).log()
        assert MODEL.log_marginal(torch.tensor(x)).item() == pytest.approx(numeric.item(), abs=1e-9)


def test_posterior_is_bayes_rule():
    x, z = 1.7, torch.tensor([-0.3, 0.4, 1.1], dtype=torch.float64)
    m, v = MODEL.posterior(x)
    bayes = MODEL.log_joint(x, z) - MODEL.log_marginal(torch.tensor(x))
    torch.testing.assert_close(log_normal(z, m, v), bayes)


def test_gap_equals_kl_to_posterior_and_vanishes_there():
    x = torch.tensor(1.7, dtype=torch.float64)
    for mu, sigma in ((0.0, 1.0), (0.5, 0.3), (-1.0, 2.0)):
        gap = MODEL.log_marginal(x) - MODEL.elbo(x, mu, sigma)
        assert gap.item() == pytest.approx(MODEL.gap(x, mu, sigma).item(), abs=1e-12)
        assert gap.item() > 0
    m, v = MODEL.posterior(x)
    assert MODEL.elbo(x, m, v.sqrt()).item() == pytest.approx(MODEL.log_marginal(x).item(), abs=1e-12)


def test_elbo_mc_agrees_with_closed_form():
    est, se = MODEL.elbo_mc(1.7, 0.2, 0.5, n=100_000, generator=torch.Generator().manual_seed(0))
    assert abs(est - MODEL.elbo(1.7, 0.2, 0.5)) < 3 * se


def test_iwae_rises_with_k_towards_log_px():
    g = torch.Generator().manual_seed(0)
    means = [MODEL.iwae(1.7, 0.0, 1.0, k, reps=2000, generator=g).mean().item() for k in (1, 10, 100, 1000)]
    assert means == sorted(means)
    assert means[0] == pytest.approx(MODEL.elbo(1.7, 0.0, 1.0).item(), abs=0.15)
    assert means[-1] == pytest.approx(MODEL.log_marginal(torch.tensor(1.7)).item(), abs=0.02)


def test_kl_1d_special_values():
    assert kl_1d(2.0, 1.0, 0.0, 1.0).item() == pytest.approx(2.0)
    assert kl_1d(0.0, math.e**2, 0.0, 1.0).item() == pytest.approx(2.194528, abs=1e-6)


@pytest.mark.parametrize("estimator", [score_function_grad, pathwise_grad])
def test_estimators_are_unbiased_for_z_squared(estimator):
    mu, sigma = 1.5, 0.7   # E[z^2] = mu^2 + sigma^2: gradient (2 mu, 2 sigma) = (3.0, 1.4)
    g = estimator(lambda z: z**2, mu, sigma, n=200_000, generator=torch.Generator().manual_seed(0))
    se = g.std(0) / math.sqrt(len(g))
    assert (abs(g.mean(0) - torch.tensor([3.0, 1.4], dtype=torch.float64)) < 4 * se).all()


def test_pathwise_has_lower_variance_for_z_squared():
    gen = torch.Generator().manual_seed(0)
    sf = score_function_grad(lambda z: z**2, 1.5, 0.7, 50_000, gen).var(0)
    pw = pathwise_grad(lambda z: z**2, 1.5, 0.7, 50_000, gen).var(0)
    assert (pw * 5 < sf).all()
