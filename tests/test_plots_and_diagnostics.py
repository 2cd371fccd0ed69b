import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_helpers import MLPVAE, plots, set_seed  # noqa: E402
from vae_helpers.diagnostics import active_units, kl_per_dim  # noqa: E402
from vae_helpers.losses import kl_normal  # noqa: E402


@pytest.fixture
def model_2d():
    set_seed(0)
    return MLPVAE(latent_dim=2, hidden=(32,)).eval()


def n_images(fig):
    return fig.axes[0].images[-1].n_images


def teardown_function():
    plt.close("all")


def test_image_grid_counts_images():
    fig = plots.image_grid(torch.rand(12, 1, 28, 28), nrow=6)
    assert n_images(fig) == 12
    assert fig.axes[0].images[-1].get_array().shape[:2] == (2 * 29 + 1, 6 * 29 + 1)  # 2 rows of 6, 1-px padding


def test_manifold_is_an_n_by_n_grid_over_normal_quantiles(model_2d):
    fig = plots.manifold(model_2d, n=7)
    assert n_images(fig) == 49
    decoded = []
    model_2d.decode = lambda z: decoded.append(z) or torch.zeros(len(z), 1, 28, 28)
    plots.manifold_images(model_2d, n=3, lo=0.05, hi=0.95)
    z = decoded[0]
    q = 1.6448536  # the 0.95 quantile of N(0, 1)
    torch.testing.assert_close(z[0], torch.tensor([-q, q]))   # top left: low z1, high z2
    torch.testing.assert_close(z[-1], torch.tensor([q, -q]))  # bottom right
    assert z[4].abs().max() < 1e-6                            # the centre is z = 0


def test_manifold_refuses_other_latent_sizes():
    with pytest.raises(ValueError, match="latent_dim=2"):
        plots.manifold(MLPVAE(latent_dim=5))


def test_latent_scatter_has_one_point_per_image(model_2d):
    x, y = torch.rand(150, 1, 28, 28), torch.arange(150) % 10
    fig = plots.latent_scatter(model_2d, x, y, background=True)
    points = fig.axes[0].collections[0]
    assert len(points.get_offsets()) == 150
    assert len(fig.axes[0].get_legend().get_texts()) == 10


def test_interpolation_strip(model_2d):
    fig = plots.interpolation(model_2d, torch.rand(1, 28, 28), torch.rand(1, 28, 28), steps=8)
    assert n_images(fig) == 10  # two inputs around eight decodings


def test_manifold_recorder_makes_a_gif(model_2d):
    recorder = plots.ManifoldRecorder(n=4)
    for step in range(3):
        recorder(model_2d, 1, step)
    gif = recorder.gif()
    assert gif[:6] == b"GIF89a" and len(recorder.frames) == 3 and recorder.frames[0].shape == (112, 112)
    with pytest.raises(ValueError, match="no frames"):
        plots.ManifoldRecorder().gif()


def test_loss_curves_and_kl_bars():
    history = {"epoch": [1, 2], **{f"{s}_{t}": [3.0, 2.0] for s in ("train", "test") for t in ("neg_elbo", "recon", "kl")}}
    fig = plots.loss_curves(history, reference=2.5)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 3
    fig = plots.kl_per_dimension(torch.tensor([0.0, 2.0, 3.0]), torch.tensor([False, True, True]))
    assert len(fig.axes[0].patches) == 3 and "2 of 3" in fig.axes[0].get_title()


def test_kl_per_dim_sums_to_the_kl_term_and_active_units(model_2d):
    x = torch.rand(300, 1, 28, 28)
    mu, logvar = model_2d.encode(x)
    torch.testing.assert_close(kl_per_dim(model_2d, x).sum(), kl_normal(mu, logvar).mean().detach())
    with torch.no_grad():  # make unit 1 ignore the input: its mean is the same for every image
        model_2d.fc_mu.weight[1].zero_()
    active, variance = active_units(model_2d, x)
    assert variance[1] == 0 and not active[1]


def test_image_grid_names_empty_input_and_a_bad_nrow():                # issue 23, item 21
    from vae_helpers import plots
    with pytest.raises(ValueError, match=r"image_grid got no images"):
        plots.image_grid(torch.zeros(0, 1, 28, 28))
    with pytest.raises(ValueError, match=r"nrow is the number of images per row, an integer >= 1, got 0"):
        plots.image_grid(torch.zeros(4, 1, 28, 28), nrow=0)
