"""A latent-variable model where everything is exact: z ~ N(0, 1), x | z ~ N(w z + b, s^2).

Taught in notebooks/02_elbo.ipynb: log p(x), the posterior, the ELBO in closed form and by Monte Carlo, and the
importance-weighted bound, all for a Gaussian q(z) = N(mu, sigma^2). Elementwise on tensors of any
shape, in float64 (inputs are converted), so that checks can hold to 1e-12.
"""
import math
from dataclasses import dataclass

import torch

from .losses import kl_normal_normal


def _t(a) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


def log_normal(x, mean, var):
    """log N(x; mean, var), elementwise."""
    return -0.5 * (math.log(2 * math.pi) + torch.log(_t(var)) + (x - mean) ** 2 / var)


def kl_1d(mu_q, var_q, mu_p, var_p) -> torch.Tensor:
    """Elementwise KL(N(mu_q, var_q) || N(mu_p, var_p)), through the package's diagonal-Gaussian KL."""
    mq, vq, mp, vp = (a.unsqueeze(-1) for a in torch.broadcast_tensors(*map(_t, (mu_q, var_q, mu_p, var_p))))
    return kl_normal_normal(mq, vq.log(), mp, vp.log())


@dataclass
class LinearGaussian:
    w: float = 2.0
    b: float = 0.5
    s: float = 0.8

    def log_marginal(self, x):
        """log p(x) = log N(x; b, w^2 + s^2): the integral over z done exactly."""
        return log_normal(_t(x), self.b, self.w**2 + self.s**2)

    def posterior(self, x):
        """p(z | x) = N(m, v) with v = s^2 / (s^2 + w^2), m = w (x - b) / (s^2 + w^2); returns (m, v)."""
        denom = self.s**2 + self.w**2
        return self.w * (_t(x) - self.b) / denom, _t(self.s**2 / denom)

    def log_joint(self, x, z):
        """log p(x, z) = log N(z; 0, 1) + log N(x; w z + b, s^2)."""
        x, z = _t(x), _t(z)
        return log_normal(z, 0.0, 1.0) + log_normal(x, self.w * z + self.b, self.s**2)

    def elbo(self, x, mu, sigma):
        """E_q[log p(x|z)] - KL(q || p(z)) for q = N(mu, sigma^2), in closed form.

        E_q[log p(x|z)] = -1/2 log(2 pi s^2) - ((x - w mu - b)^2 + w^2 sigma^2) / (2 s^2).
        """
        x, mu, sigma = _t(x), _t(mu), _t(sigma)
        expected_loglik = -0.5 * math.log(2 * math.pi * self.s**2) \
            - ((x - self.w * mu - self.b) ** 2 + self.w**2 * sigma**2) / (2 * self.s**2)
        return expected_loglik - kl_1d(mu, _t(sigma) ** 2, 0.0, 1.0)   # - KL(q || N(0, 1))

    def gap(self, x, mu, sigma):
        """KL(q || p(z|x)), which log p(x) - ELBO must equal."""
        return kl_1d(mu, _t(sigma) ** 2, *self.posterior(x))

    def elbo_mc(self, x, mu, sigma, n: int, generator=None):
        """Monte Carlo ELBO with n samples z ~ q: returns (estimate, standard error)."""
        z = mu + sigma * torch.randn(n, dtype=torch.float64, generator=generator)
        terms = self.log_joint(x, z) - log_normal(z, mu, sigma**2)      # log p(x, z) - log q(z)
        return terms.mean(), terms.std() / math.sqrt(n)

    def iwae(self, x, mu, sigma, k: int, reps: int = 1, generator=None):
        """`reps` draws of the importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i): shape (reps,)."""
        z = mu + sigma * torch.randn(reps, k, dtype=torch.float64, generator=generator)
        log_w = self.log_joint(x, z) - log_normal(z, mu, sigma**2)     # (reps, k) log importance weights
        return torch.logsumexp(log_w, dim=1) - math.log(k)
