"""The conditional VAE of notebooks/12_conditional_vae.ipynb: the label y goes into the encoder and the decoder.

q_φ(z|x, y) and p_θ(x|z, y) are notebook 04's MLPs with the one-hot label concatenated to their inputs. The ELBO becomes
ℒ(x, y) = E_q(z|x,y)[log p(x|z, y)] - KL(q(z|x, y) || p(z)), with p(z) = N(0, I) independent of y: the fixed-prior
special case, as in the generative model M2 of Kingma et al. (2014) with every label known. Sohn et al. (2015)'s
CVAE also learns a conditional prior p_θ(z|y).
A label of all zeros carries no information: the network is then an unconditional MLPVAE (see `as_unconditional`).
Train it with fit(model, x, train_y=y): vae_helpers.losses.elbo(model, x, y=y) is the conditional ELBO.
"""
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .models import IMAGE_SHAPE, MODELS, VAE, MLPVAE, _sizes, reparameterize
from .utils import evaluating


@dataclass
class ConditionalConfig:
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    n_classes: int = 10
    likelihood: str = "bernoulli"
    obs_logvar: float = 0.0


class ConditionalVAE(VAE):
    """notebook 04's MLP VAE with a label input: encoder (784 + K)-400 -> heads mu, logvar; decoder (D + K)-400-784.

    y is a class label per image (B,) or a row of K floats (B, K), e.g. one-hot; one label for all is fine too.
    The layers have MLPVAE's names (encoder.fc1, fc_mu, fc_logvar, decoder.fc1, ..., decoder.fc_out).
    """

    def __init__(self, latent_dim: int = 20, hidden=(400,), n_classes: int = 10, likelihood: str = "bernoulli",
                 obs_logvar: float = 0.0):
        super().__init__()
        hidden = _sizes(hidden, "hidden", "(400,)")
        self.config = ConditionalConfig(latent_dim, hidden, n_classes, likelihood, obs_logvar)
        self._check_config()
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer (10 for MNIST), got {n_classes!r}")
        encoder, sizes = [], (784 + n_classes, *hidden)                                # (B, 784 + K) in
        for i, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
            encoder += [(f"fc{i}", nn.Linear(a, b)), (f"act{i}", nn.ReLU())]          # (B, h_i)
        self.encoder = nn.Sequential(OrderedDict(encoder))                            # (B, hidden[-1])
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)                                # (B, D)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)                            # (B, D)
        decoder, sizes = [], (latent_dim + n_classes, *reversed(hidden))               # (B, D + K) in
        for i, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
            decoder += [(f"fc{i}", nn.Linear(a, b)), (f"act{i}", nn.ReLU())]          # (B, h_i)
        decoder += [("fc_out", nn.Linear(hidden[0], 784)),                            # (B, 784) logits
                    ("unflatten", nn.Unflatten(1, IMAGE_SHAPE))]                      # (B, 1, 28, 28)
        self.decoder = nn.Sequential(OrderedDict(decoder))

    def one_hot(self, y, batch: int) -> torch.Tensor:
        """Labels as (B, K) floats: integer classes (B,) become one-hot; (B, K) floats (zeros allowed) pass through."""
        K = self.config.n_classes
        y = torch.as_tensor(y, device=next(self.parameters()).device)
        if y.dim() == 0:
            y = y.expand(batch)                                   # one label for the whole batch
        if y.dim() == 1 and not y.is_floating_point():
            if len(y) and (y.min() < 0 or y.max() >= K):
                raise ValueError(f"y holds class labels in 0..{K - 1}, got values from {y.min()} to {y.max()}")
            y = F.one_hot(y, K).float()                           # (B, K)
        if y.dim() != 2 or y.shape != (batch, K):
            raise ValueError(f"y must be {batch} integer labels (B,) or one-hot rows (B, {K}) matching the batch, "
                             f"got shape {tuple(y.shape)} ({y.dtype})")
        return y.float()

    def encode(self, x: torch.Tensor, y) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x, y): images (B, 1, 28, 28) and labels -> mu, logvar (B, latent_dim)."""
        self._check_x(x)
        h = self.encoder(torch.cat([x.flatten(1), self.one_hot(y, len(x))], dim=1))  # (B, 784 + K) -> (B, h)
        return self.fc_mu(h), self.fc_logvar(h)                                       # (B, D), (B, D)

    def decode(self, z: torch.Tensor, y) -> torch.Tensor:
        """p(x|z, y): z (B, latent_dim) and labels -> logits (or means), shaped (B, 1, 28, 28)."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"{type(self).__name__} decodes z of shape (B, {self.config.latent_dim}), "
                             f"got {tuple(z.shape)}.")
        return self.decoder(torch.cat([z, self.one_hot(y, len(z))], dim=1))         # (B, D + K) -> (B, 1, 28, 28)

    def forward(self, x: torch.Tensor, y=None):
        """(x, y) -> (decoded (B, 1, 28, 28), mu (B, D), logvar (B, D)), with z reparameterized."""
        if y is None:
            raise ValueError("a ConditionalVAE needs the labels y: call model(x, y), elbo(model, x, y=y) or "
                             "fit(model, x_train, train_y=y_train)")
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)                                                # (B, D)
        return self.decode(z, y), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y) -> torch.Tensor:
        """Decoder means for the encoder means, under the labels y: (B, 1, 28, 28), in eval mode."""
        with evaluating(self):
            mu, _ = self.encode(x, y)
            return self.mean_image(self.decode(mu, y))

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y) -> torch.Tensor:
        """Images in [0, 1] for codes z (B, D) under labels y: the decoder's mean, in eval mode."""
        with evaluating(self):
            return self.mean_image(self.decode(z, y))

    @torch.no_grad()
    def sample(self, n: int, y=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws z ~ N(0, I) decoded under the labels y (one label, or n of them): (n, 1, 28, 28)."""
        if y is None:
            raise ValueError("ConditionalVAE.sample needs the digit(s) to draw: sample(n, y=3)")
        # cpu: drawn with a CPU generator, so the same seed gives the same digits on every device, then moved
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(next(self.parameters()).device)
        return self.generate(z, y)


MODELS[ConditionalVAE.__name__] = ConditionalVAE   # so that vae_helpers.checkpoints (and the zoo) can rebuild it


def as_unconditional(model: ConditionalVAE, y=None) -> MLPVAE:
    """The MLPVAE that `model` is when its label input is fixed to y (one class, or None for all zeros).

    A fixed label adds a constant to the first layers' pre-activations, so it folds into their biases; every other
    weight is copied (the layers have the same names). With the same noise, both give the same ELBO to rounding.
    """
    if not isinstance(model, ConditionalVAE):
        raise TypeError(f"as_unconditional takes a ConditionalVAE, got a {type(model).__name__}: an "
                        f"{type(model).__name__} has no label input to fix")
    c = model.config
    device = next(model.parameters()).device
    out = MLPVAE(c.latent_dim, c.hidden, c.likelihood, c.obs_logvar).to(device)
    onehot = (torch.zeros(c.n_classes, device=device) if y is None
              else F.one_hot(torch.as_tensor(y, device=device), c.n_classes).float())
    state = dict(model.state_dict())
    for first, n_in in (("encoder.fc1", 784), ("decoder.fc1", c.latent_dim)):
        weight, bias = state[f"{first}.weight"], state[f"{first}.bias"]               # (h, n_in + K), (h,)
        state[f"{first}.weight"] = weight[:, :n_in]                                   # the weights on x or z
        state[f"{first}.bias"] = bias + weight[:, n_in:] @ onehot.to(weight)          # + the label's constant
    out.load_state_dict(state)
    return out.eval()


@torch.no_grad()
def style_directions(model: ConditionalVAE, x: torch.Tensor, y: torch.Tensor, k: int = 3):
    """The k principal directions of the encoder means mu(x, y) on (x, y), with their standard deviations.

    Returns (mean (D,), directions (k, D), stds (k,)): moving z along a direction changes the style of every digit.
    """
    D = model.config.latent_dim
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= D:
        raise ValueError(f"k is the number of style directions, an integer from 1 to latent_dim = {D}, got {k!r}")
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"x and y must hold the same number (>= 2) of images and labels, got {len(x)} and {len(y)}")
    device = next(model.parameters()).device
    mu = torch.cat([model.encode(xb.to(device), yb.to(device))[0]
                    for xb, yb in zip(x.split(1000), y.split(1000))])                         # (N, D)
    mean = mu.mean(0)
    _, s, v = torch.linalg.svd(mu - mean, full_matrices=False)                                 # v (D, D)
    return mean, v[:k], s[:k] / (len(mu) - 1) ** 0.5
