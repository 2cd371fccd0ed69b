"""The MLP VAE's negative ELBO with its gradients derived by hand: autograd's numbers, bit for bit, in less time.

Taught in notebooks/04_mlp_vae.ipynb (the derivative of each term, checked against autograd there).
`fit` trains an `MLPVAE` on the plain ELBO with `HandGradients`: no graph to record and gradients written in
place, so an epoch takes about 10% less time (benchmarks/train_speed.py). Every other model, and every `loss_fn`,
trains with autograd. tests/test_backprop.py checks that both give identical gradients, bit for bit, on the CPU
(the GPU path runs the same ops but is not tested here: no GPU in CI).

The chain rule, for loss = mean_b (recon_b + beta kl_b) with B images in the batch and G = 1/B:
  recon = sum_i softplus(l_i) - x_i l_i          -> d/dl = G (sigmoid(l) - x)
  kl    = -1/2 sum_j (1 + v_j - mu_j^2 - e^v_j)  -> d/dmu = G beta mu,  d/dv = G beta (e^v - 1) / 2   (v = logvar)
  z     = mu + e^(v/2) eps                       -> d/dmu += dz,        d/dv += dz eps e^(v/2) / 2
  y     = h W^T + b                              -> dW = dy^T h,  db = sum_b dy,  dh = dy W
  h     = relu(a)                                -> da = dh [h > 0]
"""
import torch
from torch import nn

from .losses import ELBOTerms, bernoulli_log_likelihood, elbo, kl_normal
from .models import MLPVAE


def supports(model, loss_fn) -> bool:
    """True when `HandGradients` computes exactly what autograd would: an MLPVAE, Bernoulli decoder, plain ELBO.

    A model with frozen parameters (requires_grad=False) trains with autograd, which leaves them alone.
    """
    return (type(model) is MLPVAE and model.config.likelihood == "bernoulli" and loss_fn is elbo
            and all(p.requires_grad for p in model.parameters()))


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _mlp_forward(linears, h: torch.Tensor) -> list[torch.Tensor]:
    """Input of every layer, then the output: Linear, ReLU, ..., Linear (no ReLU after the last)."""
    acts = [h]
    for i, lin in enumerate(linears):
        h = torch.addmm(lin.bias, h, lin.weight.t())  # h W^T + b, as F.linear computes it
        if i < len(linears) - 1:
            h = h.relu_()
        acts.append(h)
    return acts


def _mlp_backward(linears, acts, grad: torch.Tensor, input_grad: bool = True):
    """Write dW and db into each layer's .grad; return dL/d(input), or None when input_grad is False."""
    for i in reversed(range(len(linears))):
        lin, h = linears[i], acts[i]
        torch.mm(grad.t(), h, out=lin.weight.grad)   # dW = dy^T h       (out, in)
        torch.sum(grad, 0, out=lin.bias.grad)        # db = sum_b dy     (out,)
        if i == 0 and not input_grad:
            return None
        grad = grad.mm(lin.weight)                   # dh = dy W         (B, in)
        if i > 0:
            grad = torch.ops.aten.threshold_backward(grad, h, 0)  # ReLU: dh [h > 0]
    return grad


class HandGradients:
    """forward(x) -> ELBOTerms, then backward() fills every parameter's .grad, as loss.mean().backward() would."""

    def __init__(self, model: MLPVAE, beta: float = 1.0):
        self.model, self.beta = model, beta
        self.encoder, self.decoder = _linears(model.encoder), _linears(model.decoder)
        for p in model.parameters():
            if p.grad is None or p.grad.shape != p.shape or not p.grad.is_contiguous():
                p.grad = torch.zeros_like(p, memory_format=torch.contiguous_format)
        self._saved = None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> ELBOTerms:
        """Per-image terms of the negative beta-ELBO, computed with losses.elbo's own functions."""
        x = x.flatten(1)                                            # (B, 784)
        enc = _mlp_forward(self.encoder, x)
        mu, logvar = enc[-1].chunk(2, dim=-1)                       # (B, D), (B, D)
        eps = torch.randn_like(mu)                                  # (B, D), as models.reparameterize draws it
        std = (0.5 * logvar).exp()
        z = mu + std * eps                                          # (B, D)
        dec = _mlp_forward(self.decoder, z)
        recon = -bernoulli_log_likelihood(dec[-1], x, check_x=False)  # -log p(x|z), from logits  (B,)
        kl = kl_normal(mu, logvar)                                  # KL(q(z|x) || p(z))          (B,)
        self._saved = (x, enc, dec, mu, logvar, eps, std)
        return ELBOTerms(recon + self.beta * kl, recon, kl)

    @torch.no_grad()
    def backward(self) -> None:
        """Gradients of the batch mean of forward's loss, summed in autograd's order (so bit for bit equal)."""
        if self._saved is None:
            raise RuntimeError("HandGradients.backward() needs a forward(x) first (each forward allows one backward)")
        x, enc, dec, mu, logvar, eps, std = self._saved
        var = logvar.exp()                                          # sigma^2
        g = torch.ones((), dtype=x.dtype, device=x.device).div(len(x))   # G = 1/B, from the batch mean
        dlogits = torch.sigmoid(dec[-1]).sub_(x).mul_(g)            # G (sigmoid(l) - x)             (B, 784)
        dz = _mlp_backward(self.decoder, dec, dlogits)              # (B, D)
        dsum = (g * self.beta) * -0.5                               # d loss / d sum_j (1 + v - mu^2 - e^v)
        dlogvar = (dsum + (-dsum) * var) + (dz * eps * std) * 0.5   # G beta (e^v - 1)/2 + dz eps e^(v/2)/2
        dmu = dz + (-dsum) * (2 * mu)                               # dz + G beta mu
        _mlp_backward(self.encoder, enc, torch.cat([dmu, dlogvar], -1), input_grad=False)
        self._saved = None
