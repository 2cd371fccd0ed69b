"""Helpers for the VAE notebook series: data, models, losses, training, checkpoints and plots."""
from .conditional import ConditionalVAE  # also registers it in models.MODELS (checkpoints, zoo)
from .priors import VampVAE  # also registers it in models.MODELS (checkpoints, zoo)
from .data import load_fashion_mnist, load_mnist
from .losses import elbo, kl_normal, log_likelihood
from .models import ConvVAE, MLPVAE, reparameterize
from .train import evaluate, fit, train_epoch
from .utils import get_device, is_smoke_test, set_seed

__version__ = "0.1.0"
__all__ = ["ConditionalVAE", "ConvVAE", "MLPVAE", "VampVAE", "elbo", "evaluate", "fit", "get_device",
           "is_smoke_test", "kl_normal", "load_fashion_mnist", "load_mnist", "log_likelihood", "reparameterize",
           "set_seed", "train_epoch"]
