import pytest
import torch

from vae_helpers import MLPVAE, load_mnist, set_seed


@pytest.fixture(scope="session")
def mnist_small():
    """1,000 statically binarized training and 500 test images."""
    x, _ = load_mnist("train", binarize="round")
    xt, _ = load_mnist("test", binarize="round")
    return x[:1000], xt[:500]


@pytest.fixture
def model():
    set_seed(0)
    return MLPVAE(latent_dim=4, hidden=(32,))


@pytest.fixture
def x_batch():
    return torch.bernoulli(torch.full((8, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(0))
