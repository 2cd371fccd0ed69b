"""vae_helpers.flows (notebook 13): planar flows, the ELBO of any q, per-image q*, the flow encoder."""
import math

import pytest
import torch

from vae_helpers import evaluate, flows
from vae_helpers.losses import elbo, kl_normal
from vae_helpers.toy import LinearGaussian

F64 = torch.float64


@pytest.mark.parametrize("D", [1, 2, 20])
def test_flow_log_det_matches_autograd_jacobian(D):
    g = torch.Generator().manual_seed(D)
    for _ in range(3):
        z = torch.randn(D, generator=g, dtype=F64)
        layers = 2 * torch.randn(4, 2 * D + 1, generator=g, dtype=F64)       # large weights: far from identity
        jacobian = torch.autograd.functional.jacobian(lambda v: flows.flow(v, layers)[0], z)
        sign, logabsdet = torch.linalg.slogdet(jacobian)
        assert sign > 0                                                     # invertible, orientation kept
        assert abs(logabsdet - flows.flow(z, layers)[1]).item() < 1e-10


def test_planar_is_invertible_even_when_u_points_against_w():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(20, 5, generator=g, dtype=F64)
    u = -3 * w / (w * w).sum(-1, keepdim=True)                              # w.u = -3: the raw layer folds space
    b = torch.zeros(20, dtype=F64)
    assert (1 + (w * u).sum(-1) < 0).all()                                  # raw det at z = 0 (tanh' = 1) is negative
    for z in (torch.zeros(20, 5, dtype=F64), torch.randn(20, 5, generator=g, dtype=F64)):
        _, log_det = flows.planar(z, u, w, b)
        for i in range(20):
            jacobian = torch.autograd.functional.jacobian(lambda v: flows.planar(v, u[i], w[i], b[i])[0], z[i])
            sign, logabsdet = torch.linalg.slogdet(jacobian)
            assert sign > 0 and abs(logabsdet - log_det[i]) < 1e-10        # u_hat keeps the determinant positive


def test_identity_layers_are_exactly_the_identity():
    layers = flows.identity_layers(6, 3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    z = torch.randn(6, 4, dtype=F64)
    out, log_det = flows.flow(z, layers)
    torch.testing.assert_close(out, z, atol=1e-14, rtol=0)
    torch.testing.assert_close(log_det, torch.zeros(6, dtype=F64), atol=1e-14, rtol=0)


def test_log_weights_estimate_the_exact_elbo_and_log_px_of_the_toy_model():
    toy, x = LinearGaussian(), torch.tensor([-1.0, 0.5, 3.0], dtype=F64)
    mu, logvar = torch.tensor([[0.3], [-0.2], [1.0]], dtype=F64), torch.full((3, 1), -1.0, dtype=F64)
    torch.manual_seed(0)
    lw = flows.log_weights_q(lambda z: toy.log_joint(x, z[..., 0]), mu, logvar, n=200_000)   # (n, 3)
    exact = toy.elbo(x, mu[:, 0], (0.5 * logvar[:, 0]).exp())
    se = lw.std(0) / math.sqrt(len(lw))
    assert ((lw.mean(0) - exact).abs() < 4 * se).all()
    iwae = torch.logsumexp(lw, 0) - math.log(len(lw))
    assert ((iwae - toy.log_marginal(x)).abs() < 0.01).all()                 # k = 200,000: close to log p(x)


def test_fit_local_reaches_the_exact_posterior_of_the_linear_gaussian_model():
    toy, x = LinearGaussian(), torch.linspace(-3, 4, 20, dtype=F64)
    joint = lambda z: toy.log_joint(x, z[..., 0])                           # noqa: E731
    start = torch.zeros(20, 1, dtype=F64)
    torch.manual_seed(0)
    (mu, logvar), trace = flows.fit_local(joint, start, start, steps=1000, n=64, lr=0.05, trace_at=(0, 1000))
    m, v = toy.posterior(x)
    assert (mu[:, 0] - m).abs().max() < 0.03 and (logvar[:, 0].exp() - v).abs().max() < 0.006
    assert toy.gap(x, mu[:, 0], (0.5 * logvar[:, 0]).exp()).max() < 2e-3   # exact KL(q* || p(z|x))
    assert (trace[1000] > trace[0]).all()
    elbo_star, _ = flows.elbo_and_log_px(joint, mu, logvar, n=20_000)
    gap = toy.log_marginal(x) - elbo_star                                   # approximation gap: 0 here
    assert abs(gap.mean()) < 3 * gap.std() / math.sqrt(20) + 2e-3


def test_fit_local_does_not_move_a_frozen_decoder_and_restores_requires_grad():
    model = flows.FlowVAE(latent_dim=3, hidden=(16,), n_flows=2)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    with flows.frozen(model):
        mu, logvar, layers = model.encode_flow(x)
        flows.fit_local(flows.vae_log_joint(model, x), mu, logvar, layers, steps=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("kwargs, word", [({"steps": 0}, "steps"), ({"n": 0}, "n >= 1"), ({"lr": -1.0}, "lr")])
def test_fit_local_refuses_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        flows.fit_local(lambda z: -(z * z).sum(-1), torch.zeros(2, 3), torch.zeros(2, 3), **kwargs)


def test_flow_encoder_with_identity_layers_has_the_gaussian_kl_on_average():
    torch.manual_seed(0)
    model = flows.FlowVAE(latent_dim=4, hidden=(32,), n_flows=2)
    identity = flows.identity_layers(1, 2, 4, generator=torch.Generator().manual_seed(0)).flatten()
    with torch.no_grad():
        model.fc_flow.weight.zero_()
        model.fc_flow.bias.copy_(identity)                                   # every image: the identity flow
    x = torch.bernoulli(torch.full((1, 1, 28, 28), 0.4)).expand(20_000, 1, 28, 28)
    with torch.no_grad():
        terms = flows.flow_elbo(model, x)
        mu, logvar, _ = model.encode_flow(x[:1])
    assert terms.loss.shape == (20_000,) and torch.equal(terms.loss, terms.recon + terms.kl)
    se = terms.kl.std() / math.sqrt(len(terms.kl))
    assert abs(terms.kl.mean() - kl_normal(mu, logvar)[0]) < 4 * se


def test_flow_vae_trains_with_fit_and_refuses_the_gaussian_elbo():
    from vae_helpers import fit
    torch.manual_seed(0)
    model = flows.FlowVAE(latent_dim=4, hidden=(32,), n_flows=2)
    x = torch.bernoulli(torch.full((256, 1, 28, 28), 0.3))
    history = fit(model, x, epochs=2, batch_size=64, seed=0, loss_fn=flows.flow_elbo, progress=False)
    assert history["train_neg_elbo"][1] < history["train_neg_elbo"][0]
    assert model.fc_flow.weight.grad is not None                             # the flow head was trained
    for call in (lambda: elbo(model, x[:4]), lambda: evaluate(model, x[:4])):
        with pytest.raises(TypeError, match="flow_elbo"):
            call()
    with pytest.raises(ValueError, match="n_flows"):
        flows.FlowVAE(n_flows=0)


def test_flows_create_tensors_on_the_device_of_their_inputs():
    meta = torch.device("meta")
    mu, logvar = torch.zeros(3, 4, device=meta), torch.zeros(3, 4, device=meta)
    layers = flows.identity_layers(3, 2, 4, device=meta)
    assert layers.device == meta
    lw = flows.log_weights_q(lambda z: -(z * z).sum(-1), mu, logvar, layers, n=5)
    assert lw.device == meta and lw.shape == (5, 3)
