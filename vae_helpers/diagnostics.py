"""Posterior-collapse diagnostics: how much each latent dimension is used."""
import torch

from .checks import check_data
from .utils import evaluating


@torch.no_grad()
def encode_all(model, x: torch.Tensor, batch_size: int = 1000):
    """Encoder means and log-variances for all of x: (N, D), (N, D), in eval mode (the model's mode is restored)."""
    x = check_data(model, x, "x")                 # float64 or 0/1 integers converted, NaN or empty refused
    device = next(model.parameters()).device
    with evaluating(model):
        parts = [model.encode(xb.to(device)) for xb in x.split(batch_size)]
    return torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu()


def kl_per_dim(model, x: torch.Tensor) -> torch.Tensor:
    """Mean over x of KL(q(z_d|x) || N(0, 1)) for each latent dimension d: (D,). Sums to the KL term."""
    mu, logvar = encode_all(model, x)
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)   # -1/2 (1 + log s^2 - mu^2 - s^2) per dim


def active_units(model, x: torch.Tensor, threshold: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """(active (D,) bool, variance (D,)): a unit is active when Var_x(E_q[z_d|x]) > threshold (Burda et al. 2016)."""
    mu, _ = encode_all(model, x)
    variance = mu.var(0)
    return variance > threshold, variance
