import time

import pytest
import torch

from vae_helpers import MLPVAE, load_mnist, set_seed
from vae_helpers.conditional import ConditionalVAE
from vae_helpers.digit_widget import DigitDrawer, draw_digits, to_png


@pytest.fixture(scope="module")
def drawer():
    set_seed(0)
    x, y = load_mnist("test", binarize="round")
    return draw_digits(ConditionalVAE(latent_dim=4, hidden=(32,)), x[:200], y[:200])


def test_a_digit_button_redraws(drawer):
    first = drawer.image.value
    assert first[:4] == b"\x89PNG"
    drawer.digit.value = 8
    assert drawer.image.value != first and "digit 8:" in drawer.status.value


def test_sliders_move_the_code_along_the_style_directions(drawer):
    z0 = drawer.z()
    drawer.sliders[1].value = 2.0
    torch.testing.assert_close(drawer.z() - z0, 2.0 * drawer.stds[1] * drawer.directions[1][None])
    drawer.sliders[1].value = 0.0


def test_with_a_small_code_the_sliders_are_its_coordinates():
    set_seed(0)
    x, y = load_mnist("test", binarize="round")
    small = draw_digits(ConditionalVAE(latent_dim=2, hidden=(32,)), x[:50], y[:50])
    assert [s.description for s in small.sliders] == ["z1", "z2"]
    small.sliders[0].value, small.sliders[1].value = 1.5, -0.5
    torch.testing.assert_close(small.z(), torch.tensor([[1.5, -0.5]]))
    small.start.value = 4                                   # the sliders take test digit #4's code, rounded
    mu, _ = small.model.encode(x[4:5], y[4:5])
    torch.testing.assert_close(small.z(), mu.clamp(-3, 3), atol=0.05, rtol=0)
    small.start.value = -1
    torch.testing.assert_close(small.z(), torch.zeros(1, 2))


def test_borrowing_a_test_digit_projects_its_code(drawer):
    drawer.start.value = 5
    mu, _ = drawer.model.encode(drawer.x_test[5:6], drawer.y_test[5:6])
    k = drawer.directions                                   # (3, 4): the code minus its projection is orthogonal
    residual = mu - drawer.z()
    torch.testing.assert_close(residual @ k.T, torch.zeros(1, 3), atol=0.05 * drawer.stds.max().item(), rtol=0)
    drawer.start.value = -1


def test_redraw_is_fast(drawer):
    start = time.perf_counter()
    for d in range(10):
        drawer.digit.value = d
    assert (time.perf_counter() - start) / 10 < 0.1


def test_png_layout():
    image = to_png(torch.zeros(3, 1, 28, 28), scale=2)
    assert image.size == (2 * (3 * 29 + 1), 2 * 30) and image.getextrema() == (0, 255)  # black digits, white frames
    assert image.getpixel((4, 4)) == 0 and image.getpixel((0, 0)) == 255


def test_needs_a_conditional_model():
    x, y = load_mnist("test", binarize="round")
    with pytest.raises(TypeError, match="ConditionalVAE"):
        DigitDrawer(MLPVAE(latent_dim=2, hidden=(8,)), x[:10], y[:10])
