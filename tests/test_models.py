import pytest
import torch

from vae_helpers import ConvVAE, MLPVAE, reparameterize, set_seed
from vae_helpers.losses import elbo


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_shapes(cls):
    model = cls(latent_dim=7)
    x = torch.rand(5, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 7)
    assert model.decode(torch.zeros(3, 7)).shape == (3, 1, 28, 28)
    samples = model.sample(4)
    assert samples.shape == (4, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1


def test_classic_mlp_has_the_784_400_20_parameter_count():
    n = sum(p.numel() for p in MLPVAE().parameters())
    assert n == (784 * 400 + 400) + (400 * 40 + 40) + (20 * 400 + 400) + (400 * 784 + 784)


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
@pytest.mark.parametrize("shape", [(5, 784), (5, 28, 28), (5, 3, 28, 28)])
def test_wrong_input_shape_states_expected_shape(cls, shape):
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 1, 28, 28\), got"):
        cls()(torch.rand(*shape))


def test_wrong_latent_shape():
    with pytest.raises(ValueError, match=r"decodes z of shape \(B, 20\)"):
        MLPVAE().decode(torch.zeros(3, 2))


def test_unknown_likelihood():
    with pytest.raises(ValueError, match="likelihood"):
        MLPVAE(likelihood="poisson")


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_gradients_reach_the_encoder_through_the_sample(cls):
    set_seed(0)
    model = cls(latent_dim=4)
    x = torch.bernoulli(torch.full((6, 1, 28, 28), 0.2))
    recon = elbo(model, x).recon.sum()  # the reconstruction term alone: KL is not involved
    recon.backward()
    first_encoder_weight = next(model.encoder.parameters())
    assert first_encoder_weight.grad is not None and first_encoder_weight.grad.abs().sum() > 0


def test_reparameterize_moments_and_gradient():
    torch.manual_seed(0)
    mu = torch.full((200_000, 1), 1.5, requires_grad=True)
    logvar = torch.full((200_000, 1), 2 * torch.log(torch.tensor(0.5)).item(), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert z.mean().item() == pytest.approx(1.5, abs=0.01)
    assert z.std().item() == pytest.approx(0.5, abs=0.01)
    z.pow(2).mean().backward()  # d/dmu E[z^2] = 2 mu; d/dlogvar E[z^2] = sigma^2 (per element / N)
    assert (mu.grad.sum()).item() == pytest.approx(3.0, abs=0.02)
    assert (logvar.grad.sum()).item() == pytest.approx(0.25, abs=0.01)


def test_tanh_activation_burda_architecture_and_a_clear_error():
    model = MLPVAE(latent_dim=50, hidden=(200, 200), activation="tanh")    # Burda et al. (2016)
    assert model.config.activation == "tanh"
    assert sum(isinstance(m, torch.nn.Tanh) for m in model.modules()) == 4
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    assert MLPVAE().config.activation == "relu"
    with pytest.raises(ValueError, match=r"activation must be one of \['relu', 'tanh'\].*got 'sigmoid'"):
        MLPVAE(activation="sigmoid")


def test_reconstruct_and_sample_run_in_eval_mode_and_restore_the_mode():
    """Notebook 06 says reconstruct and sample use BatchNorm's running averages: in training mode they must neither
    normalise with the batch's statistics nor update the running averages, and the model stays in training mode."""
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=4, channels=(4, 8))
    x = torch.rand(8, 1, 28, 28).round()
    model.train()
    model(x)                                                  # moves the running averages off their start
    running = [b.clone() for b in model.buffers()]
    expected = model.eval().reconstruct(x)
    model.train()
    got = model.reconstruct(x[:2])                            # batch statistics of 2 images would differ
    torch.testing.assert_close(got, expected[:2])
    assert model.training, "reconstruct should put back the training mode it found"
    model.sample(3, generator=torch.Generator().manual_seed(0))
    assert model.training
    for before, after in zip(running, model.buffers()):
        torch.testing.assert_close(after, before)             # no running average moved
