"""Figures for the notebooks; each function returns a matplotlib Figure that JupyterLab displays."""
import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid

from .diagnostics import encode_all
from .utils import evaluating


def image_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None):
    """Show images (N, 1, 28, 28) in [0, 1] as one mosaic with `nrow` images a row."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"image_grid expects images of shape (N, C, H, W), got {tuple(getattr(images, 'shape', ()))}")
    if len(images) == 0:
        raise ValueError("image_grid got no images (shape (0, ...)): pass at least one")
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow is the number of images per row, an integer >= 1, got {nrow!r}")
    grid = make_grid(images.detach().cpu().clamp(0, 1), nrow=nrow, padding=1, pad_value=1.0)  # (3, H', W')
    if ax is None:
        scale = min(0.45, 8 / min(nrow, len(images)))                      # at most 8 inches wide
        _, ax = plt.subplots(figsize=(scale * min(nrow, len(images)) + 0.5, scale * grid.shape[1] / 29 + 0.5))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    ax.images[-1].n_images = len(images)  # read by tests: how many images the mosaic holds
    if title:
        ax.set_title(title)
    return ax.figure


def reconstructions(model, x: torch.Tensor, nrow: int = 10):
    """Inputs (odd rows) above their reconstructions (even rows), `nrow` digits a row."""
    with evaluating(model):
        x_hat = model.reconstruct(x)                                         # (N, 1, 28, 28)
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


def _check_2d(model, what: str) -> None:
    if model.config.latent_dim != 2:
        raise ValueError(f"{what} needs a model with latent_dim=2, got latent_dim={model.config.latent_dim}")


@torch.no_grad()
def manifold_images(model, n: int = 20, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    """Decoder means on an n x n grid of standard-normal quantiles (probabilities lo..hi): (n*n, 1, 28, 28).

    Rows run from high z2 (top) to low z2, columns from low z1 (left) to high z1, as in a plot of the plane.
    """
    _check_2d(model, "a manifold")
    device = next(model.parameters()).device
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(lo, hi, n, device=device))   # (n,) quantiles
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")                           # (n, n) each
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)                      # (n*n, 2)
    with evaluating(model):
        return model.mean_image(model.decode(z)).cpu()


def manifold(model, n: int = 20, lo: float = 0.05, hi: float = 0.95, ax=None, title: str | None = None):
    """The decoded 2-D latent space: one mosaic of n x n digits over the normal quantiles lo..hi.

    The axes are z₁ (columns) and z₂ (rows); the tick labels give the z value at the centre of a few tiles, so the
    uneven spacing of the quantile grid shows.
    """
    fig = image_grid(manifold_images(model, n, lo, hi), nrow=n, ax=ax,
                     title=title or f"decoded {n} x {n} grid of z (normal quantiles {lo}..{hi})")
    ax = ax or fig.axes[0]
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(lo, hi, n)).tolist()   # cpu: tick labels
    tiles = sorted({0, n // 4, n - 1 - n // 4, n - 1})                                   # a symmetric few
    centres = [29 * k + 14.5 for k in tiles]                                             # 28-px tiles, 1-px padding
    ax.set_axis_on()
    ax.set_xticks(centres, [f"{q[k]:.2f}" for k in tiles])
    ax.set_yticks(centres, [f"{q[n - 1 - k]:.2f}" for k in tiles])                       # top row: high z₂
    ax.set(xlabel="z₁", ylabel="z₂")
    return fig


@torch.no_grad()
def latent_scatter(model, x: torch.Tensor, y: torch.Tensor, ax=None, background: bool = False, n: int = 25):
    """Encoder means of x in the 2-D latent plane, coloured by label; optionally over the decoded plane.

    The background decodes an evenly spaced n x n grid of z over the plotted area, so that each digit sits where
    its code is (the quantile grid of `manifold` is unevenly spaced in z).
    """
    _check_2d(model, "a latent scatter")
    mu, _ = encode_all(model, x)                                                   # (N, 2)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    points = ax.scatter(mu[:, 0], mu[:, 1], c=y, cmap="tab10", s=3, vmin=-0.5, vmax=9.5, alpha=0.6, zorder=2)
    ax.legend(*points.legend_elements(), title="digit", loc="upper right", fontsize=8, markerscale=1.5)
    if background:
        r = float(mu.abs().max()) * 1.05                                          # a square that holds every point
        device = next(model.parameters()).device
        c = torch.linspace(-r, r, n, device=device)                                # (n,) tile centres
        z = torch.stack(torch.meshgrid(c, c.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)   # (n*n, 2)
        with evaluating(model):
            tiles = model.mean_image(model.decode(z)).cpu()                        # (n*n, 1, 28, 28)
        h = r / (n - 1)                                                            # half a tile, in z
        ax.imshow(make_grid(tiles, nrow=n, padding=0)[0].numpy(), cmap="gray_r", vmax=1.6,
                  extent=(-r - h, r + h, -r - h, r + h), zorder=1)
    ax.set(xlabel="z₁ (mean of q_φ(z|x))", ylabel="z₂ (mean of q_φ(z|x))", title="test digits in the latent plane")
    return ax.figure


@torch.no_grad()
def interpolation(model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, ax=None, title: str | None = None):
    """Decodings along the straight line between the codes (encoder means) of two images, inputs at both ends."""
    device = next(model.parameters()).device
    with evaluating(model):
        mu, _ = model.encode(torch.stack([x_a, x_b]).to(device))                   # (2, D)
        t = torch.linspace(0, 1, steps, device=device)[:, None]                    # (steps, 1)
        z = (1 - t) * mu[0] + t * mu[1]                                            # (steps, D)
        decoded = model.mean_image(model.decode(z)).cpu()                          # (steps, 1, 28, 28)
    strip = torch.cat([x_a[None].cpu(), decoded, x_b[None].cpu()])
    return image_grid(strip, nrow=len(strip), ax=ax, title=title)


class ManifoldRecorder:
    """A `fit` callback that keeps a frame of the decoded manifold each time it is called.

    every=None: one frame after each epoch; every=k: one frame every k optimizer steps (fit reads `every`).
    """

    def __init__(self, n: int = 10, every: int | None = None):
        self.n, self.every, self.frames, self.labels = n, every, [], []

    def __call__(self, model, epoch: int, step: int) -> None:
        grid = make_grid(manifold_images(model, self.n), nrow=self.n, padding=0)[0]  # (28n, 28n) in [0, 1]
        self.frames.append((grid.clamp(0, 1) * 255).byte().numpy())
        self.labels.append(f"epoch {epoch}, step {step}")

    def gif(self, ms_per_frame: int = 300) -> bytes:
        """The frames as an animated GIF (looping), for IPython.display.Image(data=..., format="gif")."""
        import io

        from PIL import Image, ImageDraw
        if not self.frames:
            raise ValueError("no frames recorded: pass the recorder to fit(..., callback=recorder)")
        images = []
        for frame, label in zip(self.frames, self.labels):
            im = Image.fromarray(255 - frame).convert("L")                     # dark digits on white
            ImageDraw.Draw(im).text((4, 2), label, fill=0)
            images.append(im.quantize(16))                                     # 16 grey levels: a small file
        buffer = io.BytesIO()
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
        return buffer.getvalue()


def kl_per_dimension(kl: torch.Tensor, active: torch.Tensor, ax=None):
    """Bar chart of the mean KL of each latent dimension; active units in colour, inactive in grey."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    colors = ["C0" if a else "lightgrey" for a in active.tolist()]
    ax.bar(range(len(kl)), kl.tolist(), color=colors)
    ax.set_xticks(range(0, len(kl), max(1, len(kl) // 20)))
    ax.set(xlabel="latent dimension", ylabel="KL (nats per image)",
           title=f"KL per latent dimension: {int(active.sum())} of {len(kl)} units active")
    return ax.figure
