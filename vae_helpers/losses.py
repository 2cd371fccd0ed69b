"""The VAE's objective, term by term: KL divergences, decoder log-likelihoods, the ELBO and the IWAE estimate.

Every function returns one value per sample (sum over pixels and latent dimensions, never over the batch),
in nats. Average over the batch yourself: that keeps "nats per image" comparable with the literature.
"""
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checks import check_bernoulli_targets, check_data
from .utils import evaluating

LOG_2PI = math.log(2 * math.pi)


def _sum_per_sample(t: torch.Tensor) -> torch.Tensor:
    """Sum every dimension but the first: (B, ...) -> (B,)."""
    return t.flatten(1).sum(1)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) = -1/2 sum_j (1 + log s_j^2 - mu_j^2 - s_j^2), per sample.

    Taught in notebooks/01_kl_divergence.ipynb. Shapes: mu, logvar (B, D) -> (B,).
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)  # -1/2 sum (1 + log s^2 - mu^2 - s^2)


def kl_normal_normal(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) = 1/2 sum_j (log s_p^2/s_q^2 + (s_q^2 + (mu_q - mu_p)^2)/s_p^2 - 1).

    Taught in notebooks/01_kl_divergence.ipynb. Diagonal Gaussians; sums the last dimension: (B, D) -> (B,).
    """
    var_ratio = (logvar_q - logvar_p).exp()                      # s_q^2 / s_p^2
    mean_term = (mu_q - mu_p).pow(2) / logvar_p.exp()            # (mu_q - mu_p)^2 / s_p^2
    return 0.5 * (var_ratio + mean_term - 1 - (logvar_q - logvar_p)).sum(-1)


def softplus(l: torch.Tensor) -> torch.Tensor:
    """log(1 + e^l), elementwise, by the log-sum-exp trick: with the shift m = max(l, 0),
    log(e^0 + e^l) = m + log(e^-m + e^(l - m)). Both exponents are <= 0, so nothing overflows, and the sum lies in
    [1, 2], so the log never sees 0. m is a constant (detached): value and gradient (sigmoid(l)) are exact for any m,
    also at l = 0 where max has a kink.

    The same values and gradients as F.softplus (tests/test_losses.py). log_weights uses it on millions of decoded
    samples: in torch 2.x on a CPU, F.softplus (like log1p and the log-sigmoid inside
    F.binary_cross_entropy_with_logits) is several times slower than exp and log (benchmarks/loss_speed.py).
    """
    m = l.detach().clamp(min=0)                          # the shift max(l, 0), held constant
    return m + torch.log(torch.exp(-m) + torch.exp(l - m))


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor, check_x: bool = True) -> torch.Tensor:
    """log p(x|z) = sum_i [x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))], per sample.

    Computed from logits l, stably (no sigmoid followed by log). Shapes: logits, x (B, ...) -> (B,).
    check_x=False skips the [0, 1] check, for callers that checked the whole data set once.
    """
    if check_x:
        check_bernoulli_targets(x)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # -[x log p + (1-x) log(1-p)] per pixel
    return -_sum_per_sample(bce)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, logvar) -> torch.Tensor:
    """log N(x; mean, diag(exp(logvar))) = -1/2 sum_i [log 2 pi + logvar_i + (x_i - mean_i)^2 / exp(logvar_i)].

    `logvar` is a tensor broadcastable to x, or a float for a fixed variance. Shapes: (B, ...) -> (B,).
    """
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device).expand_as(x)
    sq = (x - mean).pow(2) / logvar.exp()                         # (x - mean)^2 / s^2
    return -0.5 * _sum_per_sample(LOG_2PI + logvar + sq)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension: (..., D) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def reconstruction_log_likelihood(model, x: torch.Tensor, decoded: torch.Tensor, check_x: bool = True):
    """log p(x|z) for the decoder output `decoded`, with the likelihood the model was configured with."""
    likelihood = getattr(model.config, "likelihood", "bernoulli")
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(decoded, x, check_x)   # decoded are logits
    if likelihood == "gaussian":
        return gaussian_log_likelihood(x, decoded, model.config.obs_logvar)  # decoded are means
    raise ValueError(f"unknown likelihood {likelihood!r}; expected 'bernoulli' or 'gaussian'")


class ELBOTerms(NamedTuple):
    """Per-sample terms, all in nats: loss = recon + beta * kl, and -ELBO = recon + kl."""

    loss: torch.Tensor   # (B,) the objective to minimise (negative beta-ELBO)
    recon: torch.Tensor  # (B,) -log p(x|z), one reparameterised sample z
    kl: torch.Tensor     # (B,) KL(q(z|x) || p(z)): closed form for N(0, I); one-sample for a model's log_prior (nb 14)


def elbo(model, x: torch.Tensor, beta: float = 1.0, check_x: bool = True, y=None) -> ELBOTerms:
    """ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)), estimated with one sample z; terms per sample.

    Taught in notebooks/02_elbo.ipynb and notebooks/04_mlp_vae.ipynb. With labels y (a conditional VAE,
    notebooks/12_conditional_vae.ipynb) both networks read them: model(x, y) gives q(z|x, y) and p(x|z, y).
    A model with its own prior, a method log_prior(z) (notebook 14's VampPrior), has no closed-form KL: the KL term
    is then log q(z|x) - log p(z) at the one sample z that is decoded (its expectation is the KL).
    """
    if y is None and getattr(model, "log_prior", None) is not None:   # a learned prior (notebook 14): no closed form
        mu, logvar = model.encode(x)                                   # (B, D), (B, D)
        eps = torch.randn_like(mu)
        z = mu + (0.5 * logvar).exp() * eps                            # (B, D), reparameterized
        recon = -reconstruction_log_likelihood(model, x, model.decode(z), check_x)
        kl = -0.5 * (LOG_2PI + logvar + eps.pow(2)).sum(-1) - model.log_prior(z)  # log q(z|x) - log p(z), one z
        return ELBOTerms(recon + beta * kl, recon, kl)
    decoded, mu, logvar = model(x) if y is None else model(x, y)  # (B, 1, 28, 28), (B, D), (B, D)
    recon = -reconstruction_log_likelihood(model, x, decoded, check_x)  # -E_q[log p(x|z)], one sample z
    kl = kl_normal(mu, logvar)                                 # KL(q(z|x) || N(0, I))
    return ELBOTerms(recon + beta * kl, recon, kl)


@torch.no_grad()
def log_weights(model, x: torch.Tensor, k: int, max_elements: int = 2**20) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k samples z_i ~ q(z|x): (B, 1, 28, 28) -> (B, k).

    Samples are decoded in chunks of at most `max_elements` pixels, so memory stays bounded for any k.
    Taught in notebooks/09_log_likelihood.ipynb. A model with a method log_prior(z) has that p(z) (notebook 14).
    """
    mu, logvar = model.encode(x)                                       # (B, D)
    std, (B, D), x_flat = (0.5 * logvar).exp(), mu.shape, x.flatten(1)  # x_flat (B, P)
    chunk = max(1, max_elements // x_flat.numel())                     # samples per chunk
    const = -0.5 * D * LOG_2PI                                         # the log 2 pi terms of p(z) and q(z|x)
    binary = model.config.likelihood == "bernoulli" and bool(((x_flat == 0) | (x_flat == 1)).all())
    sign = (1 - 2 * x_flat)[:, None] if binary else None               # (B, 1, P): +1 where x = 0, -1 where x = 1
    own_prior = getattr(model, "log_prior", None)                      # a learned prior, else N(0, I)
    out = []
    for s in range(0, k, chunk):
        n = min(chunk, k - s)
        eps = torch.randn(B, n, D, device=mu.device)                   # (B, n, D)
        z = mu[:, None] + std[:, None] * eps                           # (B, n, D)
        decoded = model.decode(z.flatten(0, 1))                        # (B*n, 1, 28, 28)
        if sign is not None:                   # binary x: x l - softplus(l) = -softplus(-l) if x = 1, else -softplus(l)
            log_px_z = -softplus(decoded.view(B, n, -1).mul_(sign)).sum(-1)      # (B, n)
        else:                                  # grey x, or a Gaussian decoder: the likelihood the model was built with
            x_rep = x[:, None].expand(B, n, *x.shape[1:]).flatten(0, 1)  # (B*n, 1, 28, 28)
            log_px_z = reconstruction_log_likelihood(model, x_rep, decoded, False).view(B, n)
        if own_prior is None:
            log_pz = const - 0.5 * z.pow(2).sum(-1)                    # log N(z; 0, I)          (B, n)
        else:
            log_pz = own_prior(z.flatten(0, 1)).view(B, n)             # the model's prior (notebook 14)
        log_qz = const - 0.5 * (logvar.sum(-1, keepdim=True) + eps.pow(2).sum(-1))  # log q(z|x), (z-mu)/s = eps
        out.append(log_px_z + log_pz - log_qz)
    return torch.cat(out, dim=1)


@torch.no_grad()
def log_likelihood_curve(model, x: torch.Tensor, ks=(1, 10, 100, 1000), batch_size: int = 100,
                         max_elements: int = 2**20, progress: bool = False) -> dict[int, torch.Tensor]:
    """{k: IWAE estimate of log p(x), (N,)} for every k in ks, from the first k of one set of max(ks) samples.

    The estimates share their samples (as nested prefixes), so one pass costs what the largest k costs.
    progress=True shows a progress bar over the images. Runs in eval mode (the model's mode is restored).
    """
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks (or k) must be positive integers, numbers of importance samples, got {ks}")
    home = x.device if isinstance(x, torch.Tensor) else None
    x = check_data(model, x, "x")    # once, not for every chunk of samples: shape, pixels, the model's dtype
    device = next(model.parameters()).device
    out = {k: [] for k in ks}
    bar = tqdm(total=len(x), unit="img", desc=f"k = {max(ks)}", disable=not progress)
    for xb in x.split(batch_size):
        with evaluating(model):
            lw = log_weights(model, xb.to(device), max(ks), max_elements).to(home)  # (B, k_max), on x's device
        bar.update(len(xb))
        for k in ks:
            out[k].append(torch.logsumexp(lw[:, :k], dim=1) - math.log(k))        # log (1/k) sum_i w_i
    bar.close()
    return {k: torch.cat(v) for k, v in out.items()}


def log_likelihood(model, x: torch.Tensor, k: int = 100, batch_size: int = 100,
                   max_elements: int = 2**20) -> torch.Tensor:
    """Importance-sampled log p(x) ~= log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): the IWAE bound.

    Uses logsumexp for stability; memory stays bounded for any k (5000 included).
    Taught in notebooks/09_log_likelihood.ipynb. Shapes: x (N, 1, 28, 28) -> (N,).
    """
    return log_likelihood_curve(model, x, (k,), batch_size, max_elements)[k]
