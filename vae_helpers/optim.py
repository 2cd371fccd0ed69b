"""Adam for `fit`: torch.optim.Adam(fused=True)'s update, bit for bit, without its per-step bookkeeping.

On a CPU, torch.optim.Adam spends about 50 us a step around its one fused kernel (grouping tensors, hooks,
grad-mode switches); for the classic MLP VAE that is 1-2% of a step. `FusedAdam` calls the same kernel directly.
tests/test_optim.py checks that both give identical parameters and state after many steps.

The update, per parameter p with gradient g at step t (lr, beta1, beta2, eps as in torch.optim.Adam):
  m = beta1 m + (1 - beta1) g                 first moment
  v = beta2 v + (1 - beta2) g^2               second moment
  p = p - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
"""
import torch


class FusedAdam:
    """Adam over `params` with .step() and .zero_grad(); parameters whose .grad is None are skipped, as in torch."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        if any(p.device.type != "cpu" for p in self.params):
            raise ValueError("FusedAdam runs on the CPU; on a GPU use torch.optim.Adam(params, fused=True) "
                             "(vae_helpers.optim.make_optimizer picks the right one)")
        self.lr, self.betas, self.eps = lr, betas, eps
        self.state = {}  # parameter -> (m, v, step), created at its first step, as torch.optim.Adam does
        # every parameter's step count t is a view into one tensor: one add_ ticks them all (8 add_ cost ~40 us)
        self.clock = torch.zeros(len(self.params))

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        for i, p in enumerate(self.params):
            if p not in self.state and p.grad is not None:
                self.state[p] = (torch.zeros_like(p), torch.zeros_like(p), self.clock[i])
        m, v, steps = (list(s) for s in zip(*(self.state[p] for p in params)))
        if len(params) == len(self.params):
            self.clock.add_(1)                                          # t = t + 1, for every parameter at once
        else:
            torch._foreach_add_(steps, 1)                               # t = t + 1, for those with a gradient
        torch._fused_adam_(params, [p.grad for p in params], m, v, [], steps, amsgrad=False, lr=self.lr,
                           beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps, maximize=False)

    def zero_grad(self) -> None:
        """Forget the gradients (set them to None, so the next backward() allocates them afresh)."""
        for p in self.params:
            p.grad = None


def make_optimizer(model, lr: float = 1e-3):
    """Adam for `model`: FusedAdam on a CPU, torch.optim.Adam(fused=True) elsewhere (the same update)."""
    params = list(model.parameters())
    if hasattr(torch, "_fused_adam_") and all(p.device.type == "cpu" for p in params):
        return FusedAdam(params, lr)
    return torch.optim.Adam(params, lr=lr, fused=True)
