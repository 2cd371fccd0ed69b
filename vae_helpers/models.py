"""VAE models for 28x28 images: the classic MLP VAE and a small convolutional VAE."""
from dataclasses import asdict, dataclass

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
LIKELIHOODS = ("bernoulli", "gaussian")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): a sample of N(mu, sigma^2) that gradients flow through.

    Taught in notebooks/03_reparameterization.ipynb.
    """
    eps = torch.randn_like(mu)              # (B, D) the randomness, outside the graph
    return mu + (0.5 * logvar).exp() * eps  # (B, D) sigma = exp(logvar / 2)


class VAE(nn.Module):
    """Shared VAE plumbing: input checks, forward, sampling. Subclasses build `encoder` and `decoder`."""

    config: "dataclass"

    def _check_config(self) -> None:
        if self.config.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.config.likelihood!r}")

    def _check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            hint = " Reshape it with x.view(-1, 1, 28, 28)." if x.numel() % 784 == 0 else ""
            raise ValueError(f"{type(self).__name__} expects images of shape (B, 1, 28, 28), "
                             f"got {tuple(x.shape)}.{hint}")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): images (B, 1, 28, 28) -> mu, logvar (B, latent_dim)."""
        self._check_x(x)
        h = self.encoder(x)                     # (B, 2 * latent_dim)
        mu, logvar = h.chunk(2, dim=-1)         # (B, D), (B, D)
        return mu, logvar

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
        """Decoder means for the encoder means: x (B, 1, 28, 28) -> (B, 1, 28, 28)."""
        mu, _ = self.encode(x)
        return self.mean_image(self.decode(mu))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for n draws from the prior z ~ N(0, I): (n, 1, 28, 28)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)  # (n, D)
        return self.mean_image(self.decode(z))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


@dataclass
class MLPConfig:
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    likelihood: str = "bernoulli"
    obs_logvar: float = 0.0  # log sigma^2 of a Gaussian decoder (fixed variance)


def mlp(sizes, final_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them: sizes (784, 400, 40) -> 784-400-40."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPVAE(VAE):
    """The classic MLP VAE: 784-400-(2 x 20) encoder, 20-400-784 decoder (Kingma & Welling 2014)."""

    def __init__(self, latent_dim: int = 20, hidden=(400,), likelihood: str = "bernoulli", obs_logvar: float = 0.0):
        super().__init__()
        self.config = MLPConfig(latent_dim, tuple(hidden), likelihood, obs_logvar)
        self._check_config()
        self.encoder = nn.Sequential(nn.Flatten(), mlp((784, *hidden, 2 * latent_dim)))        # (B, 2D)
        self.decoder = nn.Sequential(mlp((latent_dim, *reversed(hidden), 784)), nn.Unflatten(1, IMAGE_SHAPE))


@dataclass
class ConvConfig:
    latent_dim: int = 20
    channels: tuple[int, int] = (16, 32)
    likelihood: str = "bernoulli"
    obs_logvar: float = 0.0


class ChannelsLast(nn.Module):
    """Store activations channels-last: oneDNN's (transposed) convolutions run about 1.4x faster so on a CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)


class ConvVAE(VAE):
    """A DCGAN-style conv VAE: two stride-2 convolutions down to 7x7, two transposed convolutions back up."""

    def __init__(self, latent_dim: int = 20, channels=(16, 32), likelihood: str = "bernoulli",
                 obs_logvar: float = 0.0):
        super().__init__()
        self.config = ConvConfig(latent_dim, tuple(channels), likelihood, obs_logvar)
        self._check_config()
        c1, c2 = channels
        self.encoder = nn.Sequential(
            ChannelsLast(),
            nn.Conv2d(1, c1, 4, 2, 1), nn.LeakyReLU(0.2),                          # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2),     # (B, c2, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 49, 2 * latent_dim))                      # (B, 2D)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 49), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),  # (B, c2, 7, 7)
            ChannelsLast(),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.ReLU(),     # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, 2, 1))                                     # (B, 1, 28, 28)
        self.to(memory_format=torch.channels_last)                                  # conv weights too


MODELS = {cls.__name__: cls for cls in (MLPVAE, ConvVAE)}
