"""The inference gap and a richer posterior: the ELBO of any q, per-image (local) q*, planar flows, a flow encoder.

Taught in notebooks/13_inference_gap.ipynb, which writes each function out and checks it against this module.

    log p(x) - ℒ[q_φ] = (log p(x) - ℒ[q*])  +  (ℒ[q*] - ℒ[q_φ])
      inference gap   =  approximation gap   +  amortization gap        (Cremer, Li & Duvenaud 2018)

q_φ(z|x) is the encoder's output; q* is the best member of the same family for this one image, found by optimising
that image's own parameters (`fit_local`).
"""
import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .losses import ELBOTerms, bernoulli_log_likelihood
from .models import MLPVAE

LOG_2PI = math.log(2 * math.pi)


def planar(z: torch.Tensor, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """One planar layer f(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed 2015) and log|det ∂f/∂z|.

    By the matrix determinant lemma, det(I + û ψᵀ) = 1 + ψᵀû with ψ = (1 - tanh²(wᵀz + b)) w.
    û = u + (m(wᵀu) - wᵀu) w / ‖w‖², m(a) = -1 + softplus(a), makes wᵀû > -1, so f is invertible and the
    determinant positive. Shapes: z (..., D); u, w (..., D) and b (...) broadcast against z.
    Returns f(z) (..., D) and log_det (...).
    """
    wu = (w * u).sum(-1, keepdim=True)                                 # (..., 1) wᵀu
    u_hat = u + (F.softplus(wu) - 1 - wu) * w / (w * w).sum(-1, keepdim=True)  # (..., D)  wᵀû = m(wᵀu) > -1
    a = torch.tanh((w * z).sum(-1, keepdim=True) + b.unsqueeze(-1))   # (..., 1) tanh(wᵀz + b)
    psi = (1 - a * a) * w                                              # (..., D) ψ = h'(wᵀz + b) w
    log_det = torch.log((1 + (psi * u_hat).sum(-1)).abs())             # (...) log|1 + ψᵀû|
    return z + u_hat * a, log_det


def flow(z: torch.Tensor, params: torch.Tensor):
    """Push z (..., D) through K planar layers, params (..., K, 2D + 1) = (u, w, b) per layer.

    Returns z_K (..., D) and the summed log|det| (...): log q_K(z_K) = log q_0(z_0) - Σ_k log|det ∂f_k/∂z_{k-1}|.
    """
    D = z.shape[-1]
    total = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
    for k in range(params.shape[-2]):
        layer = params[..., k, :]                                      # (..., 2D + 1)
        z, log_det = planar(z, layer[..., :D], layer[..., D:2 * D], layer[..., 2 * D])
        total = total + log_det
    return z, total


def identity_layers(batch: int, n_flows: int, latent_dim: int, scale: float = 0.1, generator=None,
                    device=None, dtype=None) -> torch.Tensor:
    """Planar layers (batch, n_flows, 2D + 1) that are exactly the identity: w random, b = 0, u = c w.

    With wᵀu = log(e - 1), m(wᵀu) = 0 and û = u - (wᵀu) w / ‖w‖² = 0, so f(z) = z; gradients still reach u, w, b.
    A per-image flow started here starts at the Gaussian q it is given.
    """
    draw = torch.randn(batch, n_flows, latent_dim, generator=generator, dtype=dtype)  # cpu: a seeded CPU generator
    w = scale * draw.to(device)                                               # (batch, n_flows, D)
    u = math.log(math.e - 1) * w / (w * w).sum(-1, keepdim=True)              # wᵀu = log(e - 1)
    return torch.cat([u, w, torch.zeros(batch, n_flows, 1, dtype=w.dtype, device=w.device)], -1)


def log_weights_q(log_joint, mu: torch.Tensor, logvar: torch.Tensor, params=None, n: int = 1) -> torch.Tensor:
    """n samples of log w = log p(x, z) - log q(z) for q = N(mu, σ²), then the planar layers `params` if given.

    log_joint(z) -> (n, B): log p(x, z) of each image for z (n, B, D). mu, logvar (B, D); params (B, K, 2D + 1).
    The ELBO ℒ[q] is E_q[log w] (the mean over n); log p(x) ≈ logmeanexp over n (notebook 09).
    Returns (n, B). Gradients flow to mu, logvar and params (the reparameterization trick).
    """
    eps = torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)        # (n, B, D)
    z = mu + (0.5 * logvar).exp() * eps                                      # (n, B, D) z_0 ~ q_0
    log_q = -0.5 * (LOG_2PI + logvar + eps * eps).sum(-1)                    # (n, B) log q_0(z_0)
    if params is not None:
        z, log_det = flow(z, params.expand(n, *params.shape))                # (n, B, D), (n, B)
        log_q = log_q - log_det                                              # change of variables
    return log_joint(z) - log_q                                              # (n, B)


def vae_log_joint(model, x: torch.Tensor):
    """log p_θ(x, z) = log p_θ(x|z) + log N(z; 0, I) for a Bernoulli-decoder VAE, as log_joint for log_weights_q."""
    def log_joint(z):                                                        # z (n, B, D)
        n, B, D = z.shape
        logits = model.decode(z.reshape(n * B, D))                           # (n B, 1, 28, 28)
        x_rep = x.unsqueeze(0).expand(n, *x.shape).reshape(n * B, *x.shape[1:])
        log_px_z = bernoulli_log_likelihood(logits, x_rep, check_x=False).view(n, B)
        return log_px_z - 0.5 * (LOG_2PI + z * z).sum(-1)                    # (n, B)
    return log_joint


@torch.no_grad()
def elbo_and_log_px(log_joint, mu, logvar, params=None, n: int = 1000, chunk: int = 100):
    """Per-image ℒ[q] (mean of n log-weights) and log p(x) ≈ log (1/n) Σ w_i (IWAE, k = n), both (B,)."""
    lw = torch.cat([log_weights_q(log_joint, mu, logvar, params, min(chunk, n - s)) for s in range(0, n, chunk)])
    return lw.mean(0), torch.logsumexp(lw, 0) - math.log(n)


@contextmanager
def frozen(model):
    """Hold the model's parameters fixed (requires_grad False) inside the block, then restore them."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def fit_local(log_joint, mu, logvar, params=None, steps: int = 500, n: int = 8, lr: float = 0.02,
              trace_at=(), trace_n: int = 100):
    """q* for every image at once: Adam on each image's own (mu, logvar[, flow layers]), the decoder frozen.

    Maximises Σ_images ℒ[q] estimated with n samples per image per step, started from the given values; each
    image's parameters receive only its own ℒ's gradient, so these are B separate optimisations run as one. The
    learning rate decays linearly to 0, so the iterates settle instead of jittering with the Monte Carlo noise.
    trace_at: steps at which to record every image's ℒ (estimated with trace_n samples); step 0 is the start.
    Returns [mu, logvar(, params)] detached, and {step: ℒ per image (B,)}.
    """
    if steps < 1 or n < 1 or not lr > 0:
        raise ValueError(f"fit_local needs steps >= 1, n >= 1 and lr > 0, got steps={steps}, n={n}, lr={lr}")
    leaves = [t.detach().clone().requires_grad_(True) for t in (mu, logvar, params) if t is not None]
    optimizer = torch.optim.Adam(leaves, lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1 - t / steps)  # lr -> 0: settle, not jitter
    trace = {}
    for step in range(steps + 1):
        if step in trace_at:                                         # every image's ℒ, with trace_n samples
            trace[step] = elbo_and_log_px(log_joint, *leaves, n=trace_n)[0]
        if step == steps:
            break
        loss = -log_weights_q(log_joint, *leaves, n=n).mean(0).sum()   # -Σ_images ℒ[q]: images do not interact
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return [t.detach() for t in leaves], trace


class FlowVAE(MLPVAE):
    """The MLP VAE with an amortized planar-flow posterior: the encoder also outputs K planar layers per image.

    q_φ(z|x) = N(mu, σ²) pushed through f_K ∘ ... ∘ f_1, whose (u, w, b) the head `fc_flow` reads off the same
    features as mu and logvar (Rezende & Mohamed 2015). Train it with fit(..., loss_fn=flow_elbo): its ELBO needs
    the flow's log-determinant, so the plain `elbo` (and `evaluate`, which uses it) refuse it.
    """

    def __init__(self, latent_dim: int = 20, hidden=(400,), n_flows: int = 4):
        super().__init__(latent_dim=latent_dim, hidden=hidden)
        if isinstance(n_flows, bool) or not isinstance(n_flows, int) or n_flows < 1:
            raise ValueError(f"n_flows must be a positive integer (planar layers), e.g. n_flows=4; got {n_flows!r}")
        self.n_flows = n_flows
        self.fc_flow = nn.Linear(self.fc_mu.in_features, n_flows * (2 * latent_dim + 1))

    def encode_flow(self, x: torch.Tensor):
        """q_φ(z|x): images (B, 1, 28, 28) -> mu, logvar (B, D) and the planar layers (B, K, 2D + 1)."""
        self._check_x(x)
        h = self.encoder(x)                                                   # (B, hidden[-1])
        params = self.fc_flow(h).view(len(x), self.n_flows, -1)              # (B, K, 2D + 1)
        return self.fc_mu(h), self.fc_logvar(h), params

    def forward(self, x):
        raise TypeError("FlowVAE's ELBO needs the flow's log-determinant: use flows.flow_elbo(model, x) "
                        "(train with fit(model, x, loss_fn=flows.flow_elbo) and score with flows.elbo_and_log_px)")


def flow_elbo(model: FlowVAE, x: torch.Tensor, beta: float = 1.0, check_x: bool = True, y=None) -> ELBOTerms:
    """One-sample ℒ for a FlowVAE, as fit's loss_fn: recon = -log p(x|z_K), kl = log q_K(z_K|x) - log p(z_K).

    The KL term is a one-sample Monte Carlo estimate (a flow's KL to the prior has no closed form).
    """
    if y is not None:
        raise TypeError("flow_elbo is for the unconditional FlowVAE: pass no labels (train_y)")
    mu, logvar, params = model.encode_flow(x)
    eps = torch.randn_like(mu)                                               # (B, D)
    z0 = mu + (0.5 * logvar).exp() * eps
    z, log_det = flow(z0, params)                                            # (B, D), (B,)
    log_q = -0.5 * (LOG_2PI + logvar + eps * eps).sum(-1) - log_det         # log q_K(z_K|x)
    log_pz = -0.5 * (LOG_2PI + z * z).sum(-1)                                # log N(z_K; 0, I)
    recon = -bernoulli_log_likelihood(model.decode(z), x, check_x=check_x)   # -log p(x|z_K)
    kl = log_q - log_pz
    return ELBOTerms(recon + beta * kl, recon, kl)
