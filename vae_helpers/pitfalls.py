"""The classic VAE mistakes, made on purpose (notebooks/10_pitfalls.ipynb).

Each mistake is a loss for `fit(..., loss_fn=...)` or a model variant. The losses return the true reconstruction
and KL terms beside the (wrong) objective they train, so that histories still read in honest nats.
"""
import torch

from .losses import ELBOTerms, elbo, kl_normal, reconstruction_log_likelihood
from .models import MLPVAE, reparameterize


def decode_the_mean(model, x, beta: float = 1.0, check_x: bool = True) -> ELBOTerms:
    """Mistake: decode z = mu during training, no sampling. The decoder never sees the noise the KL asks for.

    The loss it trains is -log p(x|z=mu) + beta * KL. Like every loss here it reports the honest terms: `recon` is
    -log p(x|z) at one sample z ~ q(z|x) (computed without gradient, so training is unchanged), so that fit's
    history and its printed "negative ELBO" are the true negative ELBO, not the objective at z = mu.
    Measured in notebook 10: the reconstructions at z = mu stay sharp (not blurrier, as often claimed); what breaks
    is everything that samples z. The KL alone drives the encoder's std to 1 and shrinks mu, so the true ELBO costs
    hundreds of nats and samples from the prior are poor.
    """
    mu, logvar = model.encode(x)
    recon_at_mu = -reconstruction_log_likelihood(model, x, model.decode(mu), check_x)   # z = mu: what it trains
    kl = kl_normal(mu, logvar)
    with torch.no_grad():                                                         # the honest term, reported only
        recon = -reconstruction_log_likelihood(model, x, model.decode(reparameterize(mu, logvar)), check_x)
    return ELBOTerms(recon_at_mu + beta * kl, recon, kl)


def torch_normal_sample(model, x, beta: float = 1.0, check_x: bool = True) -> ELBOTerms:
    """Mistake: z = torch.normal(mu, std). It runs, but sends mu and logvar exactly zero gradient."""
    mu, logvar = model.encode(x)
    z = torch.normal(mu, (0.5 * logvar).exp())                                    # no reparameterization
    recon = -reconstruction_log_likelihood(model, x, model.decode(z), check_x)
    kl = kl_normal(mu, logvar)
    return ELBOTerms(recon + beta * kl, recon, kl)


def mean_over_pixels(model, x, beta: float = 1.0, check_x: bool = True) -> ELBOTerms:
    """Mistake: reconstruction averaged over the 784 pixels, KL summed over latents: an effective beta of 784."""
    t = elbo(model, x, beta, check_x)
    return ELBOTerms(t.recon / x[0].numel() + beta * t.kl, t.recon, t.kl)


def mean_over_latents(model, x, beta: float = 1.0, check_x: bool = True) -> ELBOTerms:
    """The opposite mistake: reconstruction summed, KL averaged over latent dimensions: beta of 1 / latent_dim."""
    t = elbo(model, x, beta, check_x)
    return ELBOTerms(t.recon + beta * t.kl / model.config.latent_dim, t.recon, t.kl)


class SquashedMLPVAE(MLPVAE):
    """Mistake: mu and sigma squashed through a sigmoid, as some blog code does: both stuck in (0, 1)."""

    def encode(self, x):
        h_mu, h_sigma = super().encode(x)
        sigma = torch.sigmoid(h_sigma)
        return torch.sigmoid(h_mu), 2 * torch.log(sigma)   # mu in (0, 1); returned as (mu, log sigma^2)


def bce_floor(x: torch.Tensor) -> torch.Tensor:
    """The smallest binary cross-entropy any decoder can reach on grey targets: sum_i H(x_i), per image (nats).

    BCE on grey pixels is not a likelihood; the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019) adds the
    normalising constant that makes it one (notebook 10).
    """
    p = x.clamp(1e-7, 1 - 1e-7)
    return -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
