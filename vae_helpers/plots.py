"""Figures for the notebooks; each function returns a matplotlib Figure that JupyterLab displays."""
import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None):
    """Show images (N, 1, 28, 28) in [0, 1] as one mosaic with `nrow` images a row."""
    if images.dim() != 4:
        raise ValueError(f"image_grid expects images of shape (N, C, H, W), got {tuple(images.shape)}")
    grid = make_grid(images.detach().cpu().clamp(0, 1), nrow=nrow, padding=1, pad_value=1.0)  # (3, H', W')
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * min(nrow, len(images)) + 0.5, 0.45 * grid.shape[1] / 29 + 0.5))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    ax.images[-1].n_images = len(images)  # read by tests: how many images the mosaic holds
    if title:
        ax.set_title(title)
    return ax.figure


def reconstructions(model, x: torch.Tensor, nrow: int = 10):
    """Inputs (odd rows) above their reconstructions (even rows), `nrow` digits a row."""
    x_hat = model.reconstruct(x)                                           # (N, 1, 28, 28)
    rows = [t for i in range(0, len(x), nrow) for t in (x[i:i + nrow].cpu(), x_hat[i:i + nrow].cpu())]
    return image_grid(torch.cat(rows), nrow=nrow, title="inputs (odd rows) and reconstructions (even rows)")


def loss_curves(history: dict, reference: float | None = None, reference_label: str = "reference"):
    """Negative ELBO, reconstruction and KL per epoch, train and test, side by side."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, term, label in zip(axes, ("neg_elbo", "recon", "kl"), ("negative ELBO", "reconstruction", "KL")):
        for split, style in (("train", "-o"), ("test", "--s")):
            values = history[f"{split}_{term}"]
            if values and values[0] is not None:
                ax.plot(history["epoch"], values, style, ms=3, label=split)
        if term == "neg_elbo" and reference is not None:
            ax.axhline(reference, color="grey", lw=1, ls=":", label=reference_label)
        ax.set(title=f"{label} (nats per image)", xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    return fig
