"""Anomaly detection with a trained VAE: per-image scores, out-of-distribution sets, ROC, thresholds, complexity.

Taught in notebooks/08_anomaly_detection.ipynb. Every score is in nats, and higher means more unusual.
"""
import io
import math

import torch
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve

from .losses import elbo
from .train import check_data
from .utils import evaluating

SCORES = ("kl", "recon", "neg_elbo")


@torch.no_grad()
def scores(model, x: torch.Tensor, samples: int = 10, batch_size: int = 1000, seed: int = 0) -> dict:
    """Per image: KL(q(z|x) || p(z)), the reconstruction term -log p(x|z) and the negative ELBO, each (N,).

    The reconstruction term is averaged over `samples` draws of z, so that the scores barely depend on the seed;
    the global random state and the model's mode are left as they were.
    """
    for name, value in (("samples", samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1 (draws of z per image / images per batch), got {value!r}")
    x = check_data(model, x, "x")
    device = next(model.parameters()).device
    out = {name: [] for name in SCORES}
    with torch.random.fork_rng(), evaluating(model):
        torch.manual_seed(seed)
        for xb in x.split(batch_size):
            xb = xb.to(device)
            terms = [elbo(model, xb, check_x=False) for _ in range(samples)]
            recon = torch.stack([t.recon for t in terms]).mean(0)      # (B,) mean over draws of z
            kl = terms[0].kl                                             # (B,) closed form: the same every draw
            for name, value in zip(SCORES, (kl, recon, recon + kl)):
                out[name].append(value.cpu())
    return {name: torch.cat(values) for name, values in out.items()}


def complexity(x: torch.Tensor) -> torch.Tensor:
    """Each binary image's length saved as a 1-bit PNG, in nats (bits x ln 2): (N,).

    A general-purpose compressor is a model of all images, so this is an input-complexity estimate in the sense
    of Serra et al. (2020); the negative ELBO minus it is their complexity-corrected score (a log-likelihood
    ratio against the compressor). PNG's headers add the same constant to every image.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be a tensor of images (N, 1, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    if not ((x == 0) | (x == 1)).all():
        raise ValueError("x must hold binary pixels (0 or 1): binarize it first, e.g. vae_helpers.data.binarize(x)")
    lengths = []
    for image in x.bool().cpu().numpy():
        buffer = io.BytesIO()
        Image.fromarray(image[0]).save(buffer, format="PNG")      # a bool array saves as a 1-bit PNG
        lengths.append(len(buffer.getvalue()))
    return torch.tensor(lengths, dtype=torch.float32) * 8 * math.log(2)   # cpu: from PNG lengths, like scores()


def uniform_noise(n: int, seed: int = 0) -> torch.Tensor:
    """n images of independent uniform pixels in [0, 1]: (n, 1, 28, 28)."""
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))   # cpu: a data set, as load_mnist


def rotate(x: torch.Tensor, quarter_turns: int = 1) -> torch.Tensor:
    """Images turned by 90 degrees `quarter_turns` times (counter-clockwise)."""
    return torch.rot90(x, quarter_turns, dims=(2, 3))


def invert(x: torch.Tensor) -> torch.Tensor:
    """Light and dark swapped: 1 - x."""
    return 1 - x


def roc(in_scores: torch.Tensor, out_scores: torch.Tensor):
    """ROC of telling out-of-distribution (positive) from in-distribution images by a score: (fpr, tpr, auc)."""
    in_scores, out_scores = _scores(in_scores, "in_scores"), _scores(out_scores, "out_scores")
    labels = torch.cat([torch.zeros(len(in_scores)), torch.ones(len(out_scores))]).numpy()   # cpu: for sklearn
    values = torch.cat([in_scores, out_scores]).numpy()
    fpr, tpr, _ = roc_curve(labels, values)
    return fpr, tpr, float(roc_auc_score(labels, values))


def _scores(values, name: str) -> torch.Tensor:
    """values as a 1-D float tensor of finite scores, or a ValueError naming `name`."""
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of scores (N,), got {type(values).__name__}")
    values = values.detach().cpu().flatten().double()
    if len(values) == 0:
        raise ValueError(f"{name} is empty: score at least one image (e.g. anomaly.scores(model, x)['neg_elbo'])")
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} holds {int((~torch.isfinite(values)).sum())} NaN or infinite score(s)")
    return values


def threshold_at(held_out_scores: torch.Tensor, fpr: float = 0.05) -> float:
    """The score above which only a fraction `fpr` of held-out in-distribution images fall."""
    if not 0 < fpr < 1:
        raise ValueError(f"fpr is a fraction of false alarms in (0, 1), got {fpr}")
    return float(torch.quantile(_scores(held_out_scores, "held_out_scores"), 1 - fpr))
