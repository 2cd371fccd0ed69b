import pytest
import torch

from vae_helpers import ConvVAE, MLPVAE, fit, load_mnist, set_seed
from vae_helpers.backprop import HandGradients, supports
from vae_helpers.losses import elbo
from vae_helpers.pitfalls import mean_over_pixels


def autograd_and_hand(model, x, beta):
    """(terms, grads) from elbo + loss.mean().backward(), then from HandGradients, on the same noise."""
    out = []
    for use_hand in (False, True):
        for p in model.parameters():
            p.grad = None
        torch.manual_seed(3)
        if use_hand:
            hand = HandGradients(model, beta)
            terms = hand.forward(x)
            hand.backward()
        else:
            terms = elbo(model, x, beta)
            terms.loss.mean().backward()
        out.append(([t.detach() for t in terms], [p.grad.clone() for p in model.parameters()]))
    return out


@pytest.mark.parametrize("hidden, batch, beta, grey", [
    ((400,), 128, 1.0, False),   # the classic setup
    ((400,), 96, 1.0, False),    # the last batch of an epoch: 1/96 is not a power of two
    ((32,), 77, 4.0, False),     # beta weighs the KL gradient
    ((64, 32), 50, 0.3, False),  # two hidden layers: the ReLU mask between hidden layers
    ((), 20, 1.0, False),        # no hidden layer: linear encoder and decoder
    ((32,), 64, 1.0, True),      # grey pixels under a Bernoulli decoder
])
def test_hand_gradients_equal_autograd_bit_for_bit(hidden, batch, beta, grey):
    x, _ = load_mnist("test", binarize=None if grey else "static")
    set_seed(0)
    (terms_a, grads_a), (terms_h, grads_h) = autograd_and_hand(MLPVAE(latent_dim=6, hidden=hidden), x[:batch], beta)
    for a, h in zip(terms_a, terms_h):       # loss, recon, kl per image
        assert torch.equal(a, h)
    for a, h in zip(grads_a, grads_h):
        assert torch.equal(a, h), (a - h).abs().max()
    assert grads_h[0].abs().sum() > 0         # the encoder's first layer gets a gradient at all


@pytest.mark.parametrize("binarize", [None, "dynamic"])
def test_fit_trains_identically_with_hand_gradients_and_autograd(binarize):
    x, _ = load_mnist("train", binarize=None if binarize else "static")
    xt, _ = load_mnist("test", binarize="static")
    runs = []
    for use_autograd in (True, False):
        set_seed(0)
        model = MLPVAE(latent_dim=8, hidden=(64,))
        history = fit(model, x[:1000], xt[:200], epochs=2, batch_size=96, beta=1.5, seed=1, binarize=binarize,
                      progress=False, use_autograd=use_autograd)
        runs.append((model.state_dict(), history))
    (sd_a, h_a), (sd_h, h_h) = runs
    assert all(torch.equal(sd_a[k], sd_h[k]) for k in sd_a)
    for key in ("train_neg_elbo", "train_recon", "train_kl", "test_neg_elbo"):
        assert h_a[key] == h_h[key]


def test_supports_only_what_it_computes_exactly():
    assert supports(MLPVAE(), elbo)
    assert not supports(MLPVAE(likelihood="gaussian"), elbo)  # its gradient is not written by hand
    assert not supports(ConvVAE(), elbo)
    assert not supports(MLPVAE(), mean_over_pixels)             # a different loss: autograd differentiates it

    class Custom(MLPVAE):
        def forward(self, x):
            return super().forward(x)
    assert not supports(Custom(), elbo)                         # a subclass may compute something else
    frozen = MLPVAE()
    frozen.encoder.requires_grad_(False)
    assert not supports(frozen, elbo)                           # autograd leaves frozen weights alone


def test_fit_leaves_frozen_weights_alone(mnist_small):
    x, _ = mnist_small
    set_seed(0)
    model = MLPVAE(latent_dim=4, hidden=(32,))
    model.encoder.requires_grad_(False)
    before = [p.clone() for p in model.encoder.parameters()]
    fit(model, x[:256], epochs=1, progress=False)
    assert all(torch.equal(a, p) for a, p in zip(before, model.encoder.parameters()))


def test_backward_without_forward_says_so():
    hand = HandGradients(MLPVAE(latent_dim=2, hidden=(8,)))
    with pytest.raises(RuntimeError, match=r"needs a forward\(x\) first"):
        hand.backward()
