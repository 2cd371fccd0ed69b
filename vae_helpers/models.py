"""VAE models for 28x28 images: the classic MLP VAE and a small convolutional VAE."""
from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .checks import shape_hint
from .utils import evaluating

IMAGE_SHAPE = (1, 28, 28)
LIKELIHOODS = ("bernoulli", "gaussian")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): a sample of N(mu, sigma^2) that gradients flow through.

    Taught in notebooks/03_reparameterization.ipynb.
    """
    eps = torch.randn_like(mu)              # (B, D) the randomness, outside the graph
    return mu + (0.5 * logvar).exp() * eps  # (B, D) sigma = exp(logvar / 2)


class VAE(nn.Module):
    """Shared VAE plumbing: input checks, forward, sampling.

    Subclasses build `encoder` (images -> features), the heads `fc_mu` and `fc_logvar` (features -> mu, logvar)
    and `decoder` (z -> logits or means, shaped like the images).
    """

    config: "dataclass"

    def _check_config(self) -> None:
        latent_dim = self.config.latent_dim
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
            raise ValueError(f"latent_dim must be a positive integer (e.g. latent_dim=20), got {latent_dim!r}")
        if self.config.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.config.likelihood!r}")

    def _check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"{type(self).__name__} expects images of shape (B, 1, 28, 28), "
                             f"got {tuple(x.shape)}: {shape_hint(tuple(x.shape))}.")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): images (B, 1, 28, 28) -> mu, logvar (B, latent_dim)."""
        self._check_x(x)
        h = self.encoder(x)                     # (B, features)
        return self.fc_mu(h), self.fc_logvar(h)  # (B, D), (B, D)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z): z (B, latent_dim) -> logits (Bernoulli) or means (Gaussian), shaped (B, 1, 28, 28)."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"{type(self).__name__} decodes z of shape (B, {self.config.latent_dim}), "
                             f"got {tuple(z.shape)}.")
        return self.decoder(z)

    def forward(self, x: torch.Tensor):
        """x (B, 1, 28, 28) -> (decoded (B, 1, 28, 28), mu (B, D), logvar (B, D)), with z reparameterized."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)          # (B, D)
        return self.decode(z), mu, logvar

    def mean_image(self, decoded: torch.Tensor) -> torch.Tensor:
        """The decoder's mean in [0, 1]-pixel space: sigmoid(logits) for Bernoulli, the mean for Gaussian."""
        return torch.sigmoid(decoded) if self.config.likelihood == "bernoulli" else decoded

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder means for the encoder means: x (B, 1, 28, 28) -> (B, 1, 28, 28). Runs in eval mode (BatchNorm's
        running averages; notebook 06), then puts back the mode the model was in."""
        with evaluating(self):
            mu, _ = self.encode(x)
            return self.mean_image(self.decode(mu))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for n draws from the prior z ~ N(0, I): (n, 1, 28, 28), in eval mode like reconstruct."""
        device = next(self.parameters()).device
        # cpu: drawn with a CPU generator, so the same seed gives the same digits on every device, then moved
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)  # (n, D)
        with evaluating(self):
            return self.mean_image(self.decode(z))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def _sizes(value, name: str, example: str, length: int | None = None) -> tuple[int, ...]:
    """hidden=400 or hidden=(400,) -> (400,); anything but positive integers -> a ValueError naming `name`."""
    sizes = (value,) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if (not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in sizes)
            or (length is not None and len(sizes) != length)):
        count = f"{length} positive integers" if length else "a positive integer or a tuple of them"
        raise ValueError(f"{name} must be {count}, e.g. {name}={example}; got {value!r}")
    return sizes


@dataclass
class MLPConfig:
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    likelihood: str = "bernoulli"
    obs_logvar: float = 0.0  # log sigma^2 of a Gaussian decoder (fixed variance)
    activation: str = "relu"  # between layers: "relu" or "tanh" (Burda et al. 2016's 2 x 200 tanh)


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLPVAE(VAE):
    """The MLP VAE: 784-400 encoder, two 400-20 heads (mu, logvar), 20-400-784 decoder, ReLU between layers.

    This is the VAE of the PyTorch examples (examples/vae, trained there with Adam, lr 1e-3), which most blog
    tutorials copy. Kingma & Welling (2014) used 500 tanh hidden units and Adagrad. hidden=(h1, h2, ...) stacks
    more hidden layers (the decoder mirrors them); hidden=400 means (400,).
    activation="tanh" puts tanh between the layers instead (Burda et al. 2016: hidden=(200, 200), latent_dim=50);
    to try yet another, add it to ACTIVATIONS: `fit` trains whatever this class computes.
    Written out layer by layer (the same names) in notebooks/04_mlp_vae.ipynb, and checked there against this class.
    """

    def __init__(self, latent_dim: int = 20, hidden=(400,), likelihood: str = "bernoulli", obs_logvar: float = 0.0,
                 activation: str = "relu"):
        super().__init__()
        hidden = _sizes(hidden, "hidden", "(400,)")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, e.g. activation='tanh'; "
                             f"got {activation!r}")
        self.config = MLPConfig(latent_dim, hidden, likelihood, obs_logvar, activation)
        self._check_config()
        act = ACTIVATIONS[activation]
        encoder = [("flatten", nn.Flatten())]                                         # (B, 784)
        for i, (a, b) in enumerate(zip((784, *hidden), hidden), start=1):
            encoder += [(f"fc{i}", nn.Linear(a, b)), (f"act{i}", act())]              # (B, h_i)
        self.encoder = nn.Sequential(OrderedDict(encoder))                            # (B, hidden[-1])
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)                                # (B, D)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)                            # (B, D)
        decoder, sizes = [], (latent_dim, *reversed(hidden))
        for i, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
            decoder += [(f"fc{i}", nn.Linear(a, b)), (f"act{i}", act())]              # (B, h_i)
        decoder += [("fc_out", nn.Linear(hidden[0], 784)),                            # (B, 784) logits
                    ("unflatten", nn.Unflatten(1, IMAGE_SHAPE))]                      # (B, 1, 28, 28)
        self.decoder = nn.Sequential(OrderedDict(decoder))


@dataclass
class ConvConfig:
    latent_dim: int = 20
    channels: tuple[int, int] = (16, 32)
    likelihood: str = "bernoulli"
    obs_logvar: float = 0.0


class ConvVAE(VAE):
    """A DCGAN-style conv VAE: two stride-2 convolutions down to 7x7, two transposed convolutions back up."""

    def __init__(self, latent_dim: int = 20, channels=(16, 32), likelihood: str = "bernoulli",
                 obs_logvar: float = 0.0):
        super().__init__()
        c1, c2 = channels = _sizes(channels, "channels", "(16, 32)", length=2)
        self.config = ConvConfig(latent_dim, channels, likelihood, obs_logvar)
        self._check_config()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, 2, 1), nn.LeakyReLU(0.2),                          # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2),     # (B, c2, 7, 7)
            nn.Flatten())                                                          # (B, c2 * 49)
        self.fc_mu = nn.Linear(c2 * 49, latent_dim)                                # (B, D)
        self.fc_logvar = nn.Linear(c2 * 49, latent_dim)                            # (B, D)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 49), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),  # (B, c2, 7, 7)
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.ReLU(),     # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, 2, 1))                                     # (B, 1, 28, 28)


MODELS = {cls.__name__: cls for cls in (MLPVAE, ConvVAE)}
