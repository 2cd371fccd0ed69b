import pytest
import torch

from vae_helpers import MLPVAE, set_seed
from vae_helpers.optim import FusedAdam, make_optimizer


def twin_models():
    set_seed(0)
    a = MLPVAE(latent_dim=4, hidden=(16,))
    b = MLPVAE(latent_dim=4, hidden=(16,))
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (3e-2, (0.5, 0.9), 1e-4)])
def test_fused_adam_equals_torch_adam_bit_for_bit(lr, betas, eps):
    a, b = twin_models()
    ours, theirs = FusedAdam(a.parameters(), lr, betas, eps), torch.optim.Adam(b.parameters(), lr, betas, eps=eps,
                                                                                fused=True)
    g = torch.Generator().manual_seed(1)
    for step in range(40):
        for i, (pa, pb) in enumerate(zip(a.parameters(), b.parameters())):
            skip = i == 1 and step % 3 == 0         # a parameter without a gradient this step: its clock stops
            grad = None if skip else torch.randn(pa.shape, generator=g) * 10.0 ** -(step % 6)
            pa.grad, pb.grad = (None, None) if skip else (grad.clone(), grad.clone())
        ours.step()
        theirs.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
        m, v, t = ours.state[pa]
        assert torch.equal(m, theirs.state[pb]["exp_avg"]) and torch.equal(v, theirs.state[pb]["exp_avg_sq"])
        assert t.item() == theirs.state[pb]["step"].item()
    assert ours.state[list(a.parameters())[1]][2].item() == 40 - 14   # skipped on 14 of the 40 steps


def test_adam_moves_against_the_gradient_by_lr_on_its_first_step():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    p.grad = torch.tensor([0.5, -4.0, 0.0])
    FusedAdam([p], lr=0.1).step()
    # first step: m / (1 - beta1) = g and sqrt(v / (1 - beta2)) = |g|, so the move is -lr sign(g) (0 where g = 0)
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, -1.9, 3.0]), rtol=0, atol=1e-6)


def test_frozen_parameters_and_zero_grad():
    a, _ = twin_models()
    frozen = a.encoder[1][0].weight
    frozen.requires_grad_(False)
    before = frozen.clone()
    opt = make_optimizer(a)
    assert isinstance(opt, FusedAdam)
    a(torch.rand(3, 1, 28, 28))[0].sum().backward()
    opt.step()
    assert torch.equal(frozen, before) and frozen not in opt.state
    opt.zero_grad()
    assert all(p.grad is None for p in a.parameters())
    opt.step()                                          # no gradients at all: nothing to do, no error


def test_fused_adam_is_for_the_cpu():
    p = torch.nn.Parameter(torch.zeros(2, device="meta"))
    with pytest.raises(ValueError, match="torch.optim.Adam"):
        FusedAdam([p])
