"""Three fixes for posterior collapse, each a `loss_fn` for `fit`: KL warm-up, free bits and IWAE training.

Every object here is called as `loss_fn(model, x, beta, check_x)` and returns `losses.ELBOTerms` with one value
per image, in nats: `loss` is what fit minimises, `recon` and `kl` are the usual one-sample ELBO terms (so fit's
training columns stay comparable with plain training). Taught in notebooks/11_posterior_collapse.ipynb.
"""
import math

import torch

from .losses import LOG_2PI, ELBOTerms, elbo, kl_normal, reconstruction_log_likelihood


class KLWarmup:
    """loss = recon + beta_t * KL, beta_t rising linearly from 0 to `beta` over the first `steps` calls.

    Each call is one training step (fit calls the loss once per batch), so `steps` counts batches. The object keeps
    its step count: make a new one for every training run. Sønderby et al. (2016), Bowman et al. (2016).
    """

    def __init__(self, steps: int):
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"KLWarmup's steps is the number of batches to anneal over, a positive int; got {steps!r}")
        self.steps, self.calls, self.__name__ = steps, 0, f"kl_warmup_{steps}"

    def weight(self) -> float:
        """The KL weight of the next call, as a fraction of beta: min(1, calls / steps)."""
        return min(1.0, self.calls / self.steps)

    def __call__(self, model, x, beta=1.0, check_x=True) -> ELBOTerms:
        decoded, mu, logvar = model(x)                                   # (B, 1, 28, 28), (B, D), (B, D)
        recon = -reconstruction_log_likelihood(model, x, decoded, check_x)  # (B,)
        kl = kl_normal(mu, logvar)                                       # (B,)
        weight = beta * self.weight() if model.training else beta        # evaluation is not a training step
        self.calls += model.training
        return ELBOTerms(recon + weight * kl, recon, kl)


class FreeBits:
    """loss = recon + beta * sum_d max(lambda, mean over the batch of KL_d): a floor of `lambda_` nats per dimension.

    Below the floor a dimension's KL costs nothing, so the encoder may use those nats for free (Kingma et al. 2016,
    their "free bits" with one group per latent dimension). `kl` returned is the true KL, the floor only enters the
    loss; the batch mean is spread evenly over the images so that fit's `loss.mean()` is the objective.
    """

    def __init__(self, lambda_: float):
        if not lambda_ >= 0:
            raise ValueError(f"FreeBits' lambda_ is a floor in nats per latent dimension, >= 0; got {lambda_!r}")
        self.lambda_, self.__name__ = float(lambda_), f"free_bits_{lambda_:g}"

    def __call__(self, model, x, beta=1.0, check_x=True) -> ELBOTerms:
        decoded, mu, logvar = model(x)                                   # (B, 1, 28, 28), (B, D), (B, D)
        recon = -reconstruction_log_likelihood(model, x, decoded, check_x)  # (B,)
        kl_d = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())            # (B, D) KL per image and dimension
        floored = kl_d.mean(0).clamp(min=self.lambda_).sum()             # sum_d max(lambda, E_batch KL_d)
        return ELBOTerms(recon + beta * floored, recon, kl_d.sum(1))     # floored broadcasts over the batch


def iwae_log_weights(model, x, k: int, check_x: bool = True) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x) reparameterised: (B, 1, 28, 28) -> (B, k).

    The differentiable twin of `losses.log_weights` (which runs under no_grad, for evaluation): gradients flow to
    the encoder through z = mu + std * eps and to the decoder through log p(x|z).
    """
    mu, logvar = model.encode(x)                                         # (B, D)
    B, D = mu.shape
    eps = torch.randn(B, k, D, device=mu.device)                        # (B, k, D), drawn as log_weights does
    z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps               # (B, k, D)
    decoded = model.decode(z.flatten(0, 1))                              # (B*k, 1, 28, 28)
    x_rep = x[:, None].expand(B, k, *x.shape[1:]).flatten(0, 1)          # (B*k, 1, 28, 28)
    log_px_z = reconstruction_log_likelihood(model, x_rep, decoded, check_x).view(B, k)   # (B, k)
    log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)                         # log N(z; 0, I)    (B, k)
    log_qz = -0.5 * (LOG_2PI + logvar[:, None] + eps.pow(2)).sum(-1)     # log q(z|x)        (B, k)
    return log_px_z + log_pz - log_qz


class IWAELoss:
    """loss = -log (1/k) sum_i w_i, the importance-weighted bound (Burda et al. 2016); k = 1 is the ELBO.

    For fit's columns, `kl` is the closed-form KL(q(z|x) || p(z)) and `recon` = loss - kl, so that fit's
    "train_neg_elbo" column reports the negative bound being trained. Neither carries gradients.
    """

    def __init__(self, k: int):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"IWAELoss' k is the number of importance samples, a positive int; got {k!r}")
        self.k, self.__name__ = k, f"iwae_{k}"

    def __call__(self, model, x, beta=1.0, check_x=True) -> ELBOTerms:
        if beta != 1.0:
            raise ValueError(f"IWAELoss trains the importance-weighted bound, which has no beta; got beta={beta}. "
                             "Leave fit's beta at 1.0.")
        log_w = iwae_log_weights(model, x, self.k, check_x)             # (B, k)
        bound = torch.logsumexp(log_w, dim=1) - math.log(self.k)        # (B,) log (1/k) sum_i w_i
        with torch.no_grad():                                            # for the KL column only
            kl = kl_normal(*model.encode(x))
        return ELBOTerms(-bound, (-bound).detach() - kl, kl)


def loss_named(name: str):
    """A fresh training loss from the name fit records for it (history["run"]["loss_fn"]); used by zoo recipes.

    "elbo" -> losses.elbo; "kl_warmup_<steps>" -> KLWarmup(steps); "free_bits_<lambda>" -> FreeBits(lambda);
    "iwae_<k>" -> IWAELoss(k). Each call builds a new object (KLWarmup counts its steps).
    """
    if not isinstance(name, str):
        raise TypeError(f"loss_named takes the loss's name, a str such as 'iwae_5'; got {name!r}")
    makers = {"kl_warmup_": lambda v: KLWarmup(int(v)), "free_bits_": lambda v: FreeBits(float(v)),
              "iwae_": lambda v: IWAELoss(int(v))}
    if name == "elbo":
        return elbo
    for prefix, make in makers.items():
        if name.startswith(prefix):
            try:
                loss = make(name[len(prefix):])
            except ValueError as err:
                raise ValueError(f"loss name {name!r}: {err}") from None
            if loss.__name__ != name:     # e.g. "iwae_05": the name must be the one fit will record
                raise ValueError(f"loss name {name!r} is not canonical: write {loss.__name__!r}")
            return loss
    raise ValueError(f"unknown loss name {name!r}: expected 'elbo', 'kl_warmup_<steps>', 'free_bits_<lambda>' "
                     "or 'iwae_<k>' (e.g. 'kl_warmup_500', 'free_bits_0.25', 'iwae_5')")
