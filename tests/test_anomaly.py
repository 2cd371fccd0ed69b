import math

import pytest
import torch

from vae_helpers import MLPVAE, anomaly, set_seed
from vae_helpers.data import binarize


@pytest.fixture
def model():
    set_seed(0)
    return MLPVAE(latent_dim=3, hidden=(16,))


def test_scores_are_per_image_and_add_up(model):
    x = binarize(torch.rand(30, 1, 28, 28))
    s = anomaly.scores(model, x, samples=4, batch_size=7)
    assert set(s) == set(anomaly.SCORES) and all(v.shape == (30,) for v in s.values())
    torch.testing.assert_close(s["neg_elbo"], s["recon"] + s["kl"])
    assert (s["kl"] >= 0).all()


def test_scores_are_seeded_and_leave_the_global_rng_alone(model):
    x = binarize(torch.rand(10, 1, 28, 28))
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = anomaly.scores(model, x, samples=2)
    assert torch.equal(torch.rand(1), expected_next)
    torch.testing.assert_close(anomaly.scores(model, x, samples=2)["recon"], a["recon"])


def test_scores_reject_grey_out_of_range_and_wrong_shapes(model):
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        anomaly.scores(model, torch.full((2, 1, 28, 28), 2.0))
    with pytest.raises(ValueError, match=r"x must hold images of shape \(N, 1, 28, 28\), got \(2, 784\)"):
        anomaly.scores(model, torch.rand(2, 784))


def test_corruptions():
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 0, :] = 1                                   # a bar along the top row
    turned = anomaly.rotate(x)
    assert turned[:, :, :, 0].sum() == 2 * 28 and turned[:, :, 0, :].sum() == 2  # now along the left column
    assert torch.equal(anomaly.rotate(x, 4), x)
    assert torch.equal(anomaly.invert(anomaly.invert(x)), x) and anomaly.invert(x).sum() == 2 * 784 - 2 * 28
    noise = anomaly.uniform_noise(5, seed=1)
    assert noise.shape == (5, 1, 28, 28) and torch.equal(noise, anomaly.uniform_noise(5, seed=1))


def test_roc_auc_values():
    _, _, perfect = anomaly.roc(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([5.0, 6.0]))
    _, _, reversed_ = anomaly.roc(torch.tensor([5.0, 6.0]), torch.tensor([0.0, 1.0, 2.0]))
    _, _, half = anomaly.roc(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0]))
    assert (perfect, reversed_, half) == (1.0, 0.0, 0.75)


def test_threshold_keeps_the_false_positive_rate():
    held_out = torch.arange(1000, dtype=torch.float32)
    t = anomaly.threshold_at(held_out, fpr=0.05)
    assert (held_out > t).float().mean().item() == pytest.approx(0.05, abs=0.002)
    with pytest.raises(ValueError, match="fraction"):
        anomaly.threshold_at(held_out, fpr=5)


def test_complexity_is_png_length_in_nats():
    blank, noisy = torch.zeros(1, 1, 28, 28), binarize(torch.rand(1, 1, 28, 28))
    c = anomaly.complexity(torch.cat([blank, noisy, blank]))
    assert c.shape == (3,) and c[0] == c[2] and c[1] > c[0] + 50   # noise compresses far worse than a blank
    n_bytes = c / (8 * math.log(2))
    torch.testing.assert_close(n_bytes, n_bytes.round())               # whole bytes, in nats
    with pytest.raises(ValueError, match="binary pixels"):
        anomaly.complexity(torch.full((1, 1, 28, 28), 0.3))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        anomaly.complexity(torch.zeros(28, 28))


def test_empty_and_impossible_arguments_are_named(model):               # issue 23, item 21
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    with pytest.raises(ValueError, match=r"samples must be an integer >= 1.*got 0"):
        anomaly.scores(model, x, samples=0)
    with pytest.raises(ValueError, match=r"in_scores is empty"):
        anomaly.roc(torch.tensor([]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"out_scores holds 1 NaN or infinite score"):
        anomaly.roc(torch.tensor([1.0]), torch.tensor([float("nan"), 2.0]))
    with pytest.raises(ValueError, match=r"held_out_scores is empty"):
        anomaly.threshold_at(torch.tensor([]))
