"""The prior p(z) and its holes: learned priors, the ELBO-surgery split, and a referee for sample quality.

Taught in notebooks/14_learned_prior.ipynb, which writes each function out and checks it against this module.

- A model with a method `log_prior(z)` (z (..., D) -> (...)) has that prior instead of N(0, I): `losses.elbo` (so
  `fit` and `evaluate`) then estimates the KL term with the one sample z it decodes, log q(z|x) - log p(z), and
  `losses.log_weights` (so `log_likelihood`) uses log p(z) in every importance weight. Models without it keep N(0, I).
- `VampVAE`: the MLP VAE with a VampPrior, p(z) = (1/K) Σ_k q_φ(z|u_k) over K learned pseudo-inputs u_k
  (Tomczak & Welling 2018). `GaussianMixturePrior` is a diagonal Gaussian mixture, e.g. fitted ex post to the
  codes of a trained N(0, I) model (`GaussianMixturePrior.fit_codes`, scikit-learn), and `WithPrior` gives a
  trained model that prior for sampling and for log p(x).
- `elbo_surgery`: E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)) for the aggregate posterior
  q(z) = (1/N) Σ_n q(z|x_n) of N images (Hoffman & Johnson 2016).
- `Referee`, `train_referee`, `frechet_distance`, `label_entropies`: a small MNIST classifier whose penultimate
  features give a Fréchet distance between image sets (an "MNIST FID"), and its label entropies.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_count
from .losses import LOG_2PI, log_normal_diag
from .models import MLPVAE, MLPConfig, MODELS, IMAGE_SHAPE, ACTIVATIONS, _sizes
from .utils import preserved_random_state


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension: (..., D) -> (...)."""
    return -0.5 * (LOG_2PI + z * z).sum(-1)


# --- the VampPrior ---------------------------------------------------------------------------------------------

@dataclass
class VampConfig(MLPConfig):
    n_pseudo: int = 500                  # K pseudo-inputs


class VampVAE(MLPVAE):
    """The MLP VAE of notebook 04 with a VampPrior: p(z) = (1/K) Σ_k q_φ(z|u_k) (Tomczak & Welling 2018).

    The K pseudo-inputs u_k are learned images, u_k = sigmoid(pseudo_logits_k) (pixels in (0, 1), as the encoder
    sees); the prior is the encoder's posterior averaged over them, so it is learned with the encoder and the decoder
    by the same ELBO. Trained with plain `fit` (losses.elbo sees `log_prior` and estimates the KL term by sampling).
    """

    def __init__(self, latent_dim: int = 20, hidden=(400,), likelihood: str = "bernoulli", obs_logvar: float = 0.0,
                 activation: str = "relu", n_pseudo: int = 500):
        super().__init__(latent_dim, hidden, likelihood, obs_logvar, activation)
        check_count(n_pseudo, "n_pseudo", "n_pseudo=500 (Tomczak & Welling's K)")
        self.config = VampConfig(**asdict(self.config), n_pseudo=n_pseudo)   # the MLP's config, checked by MLPVAE
        # logits around -1 (pixels near 0.27, MNIST's mean ink is 0.13), with a spread so that the u_k differ
        # cpu: built like the layers' weights, on the CPU; model.to(device) moves it
        self.pseudo_logits = nn.Parameter(torch.randn(n_pseudo, *IMAGE_SHAPE) - 1)

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs u_k as images in (0, 1): (K, 1, 28, 28)."""
        return torch.sigmoid(self.pseudo_logits)

    def prior_components(self):
        """mu_k, logvar_k (K, D) of the prior's components q_φ(z|u_k)."""
        return self.encode(self.pseudo_inputs())

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logmeanexp_k log q_φ(z|u_k): (..., D) -> (...)."""
        mu_k, logvar_k = self.prior_components()                                   # (K, D)
        per_k = log_normal_diag(z.unsqueeze(-2), mu_k, logvar_k)                  # (..., K)
        return torch.logsumexp(per_k, -1) - math.log(self.config.n_pseudo)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for n draws from the VampPrior: pick a pseudo-input k uniformly, then z ~ q_φ(z|u_k)."""
        mu_k, logvar_k = self.prior_components()
        # cpu: drawn with a CPU generator, so the same seed gives the same digits on every device, then moved
        k = torch.randint(self.config.n_pseudo, (n,), generator=generator).to(mu_k.device)
        # cpu: as above
        eps = torch.randn(n, self.config.latent_dim, generator=generator).to(mu_k.device)
        z = mu_k[k] + (0.5 * logvar_k[k]).exp() * eps                             # (n, D)
        return self.mean_image(self.decode(z))


MODELS[VampVAE.__name__] = VampVAE      # so that vae_helpers.checkpoints (and the zoo) can rebuild it


# --- a diagonal Gaussian mixture, e.g. fitted ex post to the codes --------------------------------------------

class GaussianMixturePrior(nn.Module):
    """p(z) = Σ_c π_c N(z; m_c, diag(exp(logvar_c))): weights (C,), means (C, D), logvars (C, D), held as buffers."""

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor):
        super().__init__()
        # cpu: a new prior is built on the CPU from its numbers (or where the tensors given lie); .to(device) moves it
        weights, means, logvars = (torch.as_tensor(t, dtype=torch.float32) for t in (weights, means, logvars))
        if means.dim() != 2 or logvars.shape != means.shape or weights.shape != means.shape[:1]:
            raise ValueError(f"GaussianMixturePrior needs weights (C,), means (C, D) and logvars (C, D); got "
                             f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(logvars.shape)}")
        if not (weights > 0).all() or abs(weights.sum().item() - 1) > 1e-4:
            raise ValueError(f"the mixture's weights must be positive and sum to 1, got sum {weights.sum().item():.6f}")
        self.register_buffer("log_weights", weights.log())
        self.register_buffer("means", means)
        self.register_buffer("logvars", logvars)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_c (log π_c + log N(z; m_c, σ_c²)): (..., D) -> (...)."""
        return torch.logsumexp(self.log_weights + log_normal_diag(z.unsqueeze(-2), self.means, self.logvars), -1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws z (n, D): a component c ~ π, then z ~ N(m_c, σ_c²)."""
        # cpu: drawn with a CPU generator, so the same seed gives the same codes on every device, then moved
        c = torch.multinomial(self.log_weights.exp().cpu(), n, replacement=True, generator=generator)
        # cpu: as above
        eps = torch.randn(n, self.means.shape[1], generator=generator).to(self.means.device)
        c = c.to(self.means.device)
        return self.means[c] + (0.5 * self.logvars[c]).exp() * eps

    @classmethod
    def fit_codes(cls, z: torch.Tensor, n_components: int = 50, seed: int = 0, max_iter: int = 200):
        """Fit the mixture to codes z (N, D) by EM (scikit-learn's GaussianMixture, diagonal covariances)."""
        from sklearn.mixture import GaussianMixture     # imported here: only this method needs scikit-learn
        check_count(n_components, "n_components", "n_components=50")
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or len(z) < n_components:
            raise ValueError(f"z must be codes of shape (N, D) with N >= n_components ({n_components}), got "
                             f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
        gmm = GaussianMixture(n_components, covariance_type="diag", random_state=seed, max_iter=max_iter)
        gmm.fit(z.detach().cpu().double().numpy())
        return cls(torch.from_numpy(gmm.weights_), torch.from_numpy(gmm.means_),
                   torch.from_numpy(gmm.covariances_).log()).to(z.device)


class WithPrior(nn.Module):
    """A trained VAE with another prior: the same encoder and decoder, p(z) = prior.log_prob, samples from it.

    For sampling (`sample`) and for log p(x) (`losses.log_likelihood` reads `log_prior`); it is not for training.
    """

    def __init__(self, model, prior):
        super().__init__()
        self.model, self.prior = model, prior
        self.config = model.config

    def encode(self, x):
        return self.model.encode(x)

    def decode(self, z):
        return self.model.decode(z)

    def mean_image(self, decoded):
        return self.model.mean_image(decoded)

    def forward(self, x):
        return self.model(x)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return self.prior.log_prob(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for n draws from the prior."""
        return self.mean_image(self.decode(self.prior.sample(n, generator)))


# --- the aggregate posterior and ELBO surgery ------------------------------------------------------------------

@torch.no_grad()
def aggregate_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """log q(z) = log (1/N) Σ_n N(z; mu_n, diag(exp(logvar_n))), the aggregate posterior of N images: (M, D) -> (M,).

    Σ_d (z_d - mu_nd)² / σ_nd² is expanded into z² · (1/σ²) - 2 z · (mu/σ²) + mu² · (1/σ²), so the sum over d of all
    M x N pairs is two matrix products (computed in float64: the expanded terms cancel), `chunk` points at a time.
    """
    if mu.dim() != 2 or logvar.shape != mu.shape or z.dim() != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(f"z must be (M, D) and mu, logvar (N, D) with the same D, got {tuple(z.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    inv_var = (-logvar).exp()                                                           # (N, D)
    const = -0.5 * (mu.shape[1] * LOG_2PI + logvar.sum(-1) + (mu * mu * inv_var).sum(-1))   # (N,)
    return torch.cat([torch.logsumexp(const - 0.5 * (zc * zc) @ inv_var.T + zc @ (mu * inv_var).T, 1)
                      for zc in z.split(chunk)]) - math.log(len(mu))


@torch.no_grad()
def elbo_surgery(mu: torch.Tensor, logvar: torch.Tensor, log_p=log_standard_normal, samples: int = 1,
                 chunk: int = 1024, generator: torch.Generator | None = None) -> dict:
    """Split the average KL of N Gaussian posteriors into mutual information and marginal KL (Hoffman & Johnson 2016).

    mu, logvar (N, D): q(z|x_n). With q(z) = (1/N) Σ_m q(z|x_m) and n uniform over the N images,
        E_n KL(q(z|x_n) ‖ p(z)) = I_q(n; z) + KL(q(z) ‖ p(z)),
    I_q = E_n E_{q(z|x_n)}[log q(z|x_n) - log q(z)], KL(q(z) ‖ p(z)) = E_{q(z)}[log q(z) - log p(z)]. Each is
    estimated with `samples` draws z ~ q(z|x_n) per image; log q(z) is the exact log-mean-exp over all N posteriors.
    log_p: log p(z) (..., D) -> (...), N(0, I) by default.
    Returns {"kl": the Monte Carlo average KL, "mi", "marginal_kl"} as floats and their per-draw terms
    ("mi_terms", "marginal_terms", (samples * N,)) for standard errors. I_q <= log N: see notebook 14.
    """
    if mu.dim() != 2 or logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must both be (N, D), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    check_count(samples, "samples", "samples=1")
    N, D = mu.shape
    # cpu: drawn with a CPU generator (the same draws on every device), then moved
    eps = torch.randn(samples, N, D, generator=generator, dtype=mu.dtype).to(mu.device)
    z = (mu + (0.5 * logvar).exp() * eps).reshape(samples * N, D)              # (S N, D), image n repeated S times
    log_q_own = (-0.5 * (LOG_2PI + logvar + eps * eps).sum(-1)).reshape(-1)    # (S N,) log q(z|x_n)
    log_q_agg = aggregate_log_density(z, mu, logvar, chunk)                   # (S N,) log q(z)
    log_p_z = torch.cat([log_p(zc) for zc in z.split(chunk)])                   # (S N,) log p(z), chunk by chunk
    mi_terms, marginal_terms = log_q_own - log_q_agg, log_q_agg - log_p_z
    return {"kl": (mi_terms + marginal_terms).mean().item(), "mi": mi_terms.mean().item(),
            "marginal_kl": marginal_terms.mean().item(), "mi_terms": mi_terms, "marginal_terms": marginal_terms}


# --- the referee: a small MNIST classifier, its features and the Fréchet distance ---------------------------

class Referee(nn.Module):
    """A small MLP classifier, 784-256-64-10 (ReLU): `features` (the 64 penultimate units) and logits."""

    def __init__(self, hidden=(256, 64)):
        super().__init__()
        h1, h2 = _sizes(hidden, "hidden", "(256, 64)", length=2)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, h1), ACTIVATIONS["relu"](), nn.Linear(h1, h2),
                                  ACTIVATIONS["relu"]())
        self.head = nn.Linear(h2, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 64) of images (B, 1, 28, 28)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 2000):
        """(features (N, 64), logits (N, 10)) of images x, in float64 for the statistics, on the CPU."""
        device = next(self.parameters()).device
        feats, logits = [], []
        for xb in x.split(batch_size):
            f = self.features(xb.to(device))
            feats.append(f.double().cpu())
            logits.append(self.head(f).double().cpu())
        return torch.cat(feats), torch.cat(logits)


def train_referee(x: torch.Tensor, y: torch.Tensor, epochs: int = 2, batch_size: int = 128, lr: float = 1e-3,
                  seed: int = 0) -> Referee:
    """A Referee trained with Adam on cross-entropy, seeded (the same weights for the same arguments), eval mode."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have one label per image, got {len(x)} images and {len(y)} labels")
    with preserved_random_state():                      # the caller's random state is left as it was
        torch.manual_seed(seed)
        referee = Referee().to(x.device)
    optimizer = torch.optim.Adam(referee.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=order).split(batch_size):   # cpu: indices from a CPU generator
            idx = idx.to(x.device)
            loss = F.cross_entropy(referee(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return referee.eval()


def gaussian_frechet(m1, s1, m2, s2) -> float:
    """Fréchet (2-Wasserstein²) distance of N(m1, s1) and N(m2, s2):
    ‖m1 - m2‖² + tr(s1) + tr(s2) - 2 tr((s1^½ s2 s1^½)^½), with the square roots by eigendecomposition (float64)."""
    # cpu: statistics in float64 on the CPU (a float64 eigendecomposition of a small matrix)
    m1, s1, m2, s2 = (torch.as_tensor(t, dtype=torch.float64).cpu() for t in (m1, s1, m2, s2))
    vals, vecs = torch.linalg.eigh(s1)
    root1 = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T                # s1^½
    middle = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp(min=0).sqrt().sum()  # tr((s1^½ s2 s1^½)^½)
    return ((m1 - m2).pow(2).sum() + s1.trace() + s2.trace() - 2 * middle).item()


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """The Fréchet distance between the Gaussians fitted (mean, covariance) to two feature sets (N, F) and (M, F)."""
    if feats_a.dim() != 2 or feats_b.dim() != 2 or feats_a.shape[1] != feats_b.shape[1] or min(len(feats_a), len(feats_b)) < 2:
        raise ValueError(f"feats_a and feats_b must be (N, F) and (M, F) with N, M >= 2, got {tuple(feats_a.shape)} "
                         f"and {tuple(feats_b.shape)}")
    a, b = feats_a.double(), feats_b.double()
    return gaussian_frechet(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


def label_entropies(logits: torch.Tensor) -> tuple[float, float]:
    """(mean per-sample entropy H(y|x), entropy of the average prediction H(y)) in nats, from logits (N, 10).

    Confident samples have a low H(y|x); diverse ones a high H(y) (at most log 10 for ten classes).
    """
    log_p = F.log_softmax(logits.double(), -1)
    per_sample = -(log_p.exp() * log_p).sum(-1).mean()
    mean_p = log_p.exp().mean(0)
    return per_sample.item(), -(mean_p * mean_p.clamp(min=1e-300).log()).sum().item()
