"""Two Monte Carlo estimators of the gradient of E_{z ~ N(mu, sigma^2)}[f(z)] with respect to (mu, sigma).

Taught in notebooks/03_reparameterization.ipynb. Each returns one estimate per sample, shape (n, 2): columns are
d/dmu and d/dsigma; average them for the n-sample estimator, and their variance is the per-sample variance.
"""
import torch
from torch.distributions import Normal


def _params(mu: float, sigma: float, n: int):
    """n copies of mu and sigma that require grad, so that autograd gives each sample its own gradient."""
    return (torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True),
            torch.full((n,), float(sigma), dtype=torch.float64, requires_grad=True))


def score_function_grad(f, mu: float, sigma: float, n: int, generator=None) -> torch.Tensor:
    """REINFORCE: f(z) * grad log q(z), z ~ q drawn without gradient. Needs f only as a black box."""
    mus, sigmas = _params(mu, sigma, n)
    with torch.no_grad():
        z = mu + sigma * torch.randn(n, dtype=torch.float64, generator=generator)   # (n,) plain samples
    log_q = Normal(mus, sigmas).log_prob(z)                                           # (n,) log q(z_i)
    (f(z) * log_q).sum().backward()                                                   # f(z_i) grad log q(z_i)
    return torch.stack([mus.grad, sigmas.grad], dim=1)


def pathwise_grad(f, mu: float, sigma: float, n: int, generator=None) -> torch.Tensor:
    """Reparameterization: z = mu + sigma * eps, eps ~ N(0, 1), and grad f(z) through z. Needs f differentiable."""
    mus, sigmas = _params(mu, sigma, n)
    eps = torch.randn(n, dtype=torch.float64, generator=generator)                   # (n,) noise, no parameters
    f(mus + sigmas * eps).sum().backward()                                             # f'(z_i) * (1, eps_i)
    return torch.stack([mus.grad, sigmas.grad], dim=1)
