"""Time one training epoch of the classic MLP VAE (784-400-20, batch 128, Adam 1e-3, static binarization).

Four figures from one run, so that the machine's noise hits them alike:
  1. the project's pipeline (`vae_helpers.train.fit`: one tensor, batches by indexing, gradients from
     `vae_helpers.backprop`), and the same with autograd (`fit(..., use_autograd=True)`), to show what the
     hand-derived gradients save;
  2. the usual tutorial pipeline: `DataLoader(torchvision.datasets.MNIST(transform=Compose([ToTensor(), round])))`
     driving the same model and the same loss;
  3. the matmul-bound floor: the epoch's matrix-multiply FLOPs divided by the rate torch's own matmul reaches here.
     That rate is measured three ways: inside a real epoch (the profiler's time in mm/addmm, the target's measure:
     what the epoch would take if everything but its matmuls were free), on the step's GEMM shapes run back to back
     (hot caches: faster than inside training), and on one large square product (the machine's peak).
  4. the same ratio measured step by step: during a `fit` epoch, a callback times the step's 11 GEMM shapes right
     after every step. The machine's slow and fast phases (seconds long here) then hit the epoch and its floor alike.
     The extra GEMMs may evict some of the training's data from the caches, but timing them every 10 or 50 steps
     instead of every step gave the same ratios (medians 1.65, 1.65 and 1.63 in one interleaved run): the bias is small.

Usage: python benchmarks/train_speed.py [--repeats 5]
"""
import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vae_helpers import MLPVAE, fit, load_mnist, set_seed
from vae_helpers.data import raw_folder
from vae_helpers.losses import elbo
from vae_helpers.optim import make_optimizer

BATCH, LR = 128, 1e-3


def project_epoch(x: torch.Tensor, use_autograd: bool = False) -> float:
    """Seconds for one epoch of `fit` on the in-memory tensor."""
    set_seed(0)
    model = MLPVAE()
    history = fit(model, x, epochs=1, batch_size=BATCH, lr=LR, seed=0, progress=False, use_autograd=use_autograd)
    return history["seconds"][0]


def in_epoch_matmul_seconds(x: torch.Tensor) -> float:
    """Seconds spent in matmuls (mm, addmm) during one profiled project epoch."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        project_epoch(x)
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm")) / 1e6


def dataloader_epoch(root) -> float:
    """Seconds for one epoch driven by a torchvision dataset with per-sample transforms."""
    set_seed(0)
    model = MLPVAE()
    optimizer = make_optimizer(model, LR)  # the same optimizer as fit: only the data pipeline differs
    dataset = datasets.MNIST(root, train=True, download=False,
                             transform=transforms.Compose([transforms.ToTensor(), torch.round]))
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    start = time.perf_counter()
    for x, _ in loader:
        loss = elbo(model, x).loss.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def linear_shapes(model) -> list[tuple[int, int]]:
    """(in, out) of every Linear layer, in order."""
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]


def step_gemms(shapes, batch: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of the matmuls in one training step: forward, weight gradient, input gradient (not layer 1's)."""
    gemms = []
    for i, (fan_in, fan_out) in enumerate(shapes):
        gemms.append((batch, fan_in, fan_out))         # y = x W^T
        gemms.append((fan_out, batch, fan_in))         # dW = dy^T x
        if i > 0:
            gemms.append((batch, fan_out, fan_in))     # dx = dy W
    return gemms


def gemm_flops(gemms) -> int:
    """Floating-point operations of a list of (m, k, n) matmuls: 2 m k n each."""
    return sum(2 * m * k * n for m, k, n in gemms)


def gemm_operands(gemms) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Random (a, b, out) float32 tensors for each (m, k, n) matmul: a (m, k) @ b (k, n) -> out (m, n)."""
    return [(torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)) for m, k, n in gemms]


def flops_per_epoch(shapes, n: int, batch: int) -> float:
    full, last = divmod(n, batch)
    return full * gemm_flops(step_gemms(shapes, batch)) + (gemm_flops(step_gemms(shapes, last)) if last else 0)


def step_interleaved(x: torch.Tensor, shapes) -> tuple[float, float]:
    """(project seconds, matmul floor seconds) of one fit epoch, the floor timed right after each of its steps."""
    gemms = step_gemms(shapes, BATCH)
    mats = gemm_operands(gemms)
    timed_gemms = [0.0, 0]                                    # seconds, steps

    def time_gemms(model, epoch, step):
        start = time.perf_counter()
        for a, b, out in mats:
            torch.mm(a, b, out=out)
        timed_gemms[0] += time.perf_counter() - start
        timed_gemms[1] += 1

    set_seed(0)
    history = fit(MLPVAE(), x, epochs=1, batch_size=BATCH, lr=LR, seed=0, progress=False, callback=time_gemms,
                  callback_every=1)
    seconds, steps = timed_gemms
    return history["seconds"][0] - seconds, seconds / steps / gemm_flops(gemms) * flops_per_epoch(shapes, len(x), BATCH)


def timed(fn, min_seconds: float = 1.0) -> float:
    """Seconds per call of fn, averaged over at least `min_seconds` after a warm-up."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds:
        fn()
        calls += 1
    return elapsed / calls


def peak_matmul_rate(size: int = 1024) -> float:
    """FLOP/s of one large square float32 matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / timed(lambda: a @ b)


def step_gemm_rate(shapes, batch: int) -> float:
    """FLOP/s of the very matmuls one training step performs, back to back."""
    gemms = step_gemms(shapes, batch)
    mats = gemm_operands(gemms)
    return gemm_flops(gemms) / timed(lambda: [a @ b for a, b, _ in mats])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="epochs timed per pipeline; the fastest counts")
    args = parser.parse_args()
    x, _ = load_mnist("train", binarize="static")
    shapes = linear_shapes(MLPVAE())
    flops = flops_per_epoch(shapes, len(x), BATCH)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {flops / 1e9:.1f} GFLOP of matmul per epoch")
    project, autograd, loader, peak, gemm, insitu, stepwise = [], [], [], [], [], [], []
    with raw_folder("mnist") as root:
        for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit every figure alike
            project.append(project_epoch(x))
            autograd.append(project_epoch(x, use_autograd=True))
            loader.append(dataloader_epoch(root))
            peak.append(peak_matmul_rate())
            gemm.append(step_gemm_rate(shapes, BATCH))
            insitu.append(in_epoch_matmul_seconds(x))
            stepwise.append(step_interleaved(x, shapes))
    p, a, d = min(project), min(autograd), min(loader)
    print(f"project pipeline    : {p:6.2f} s/epoch   (all: {', '.join(f'{t:.2f}' for t in project)})")
    print(f"  ... with autograd : {a:6.2f} s/epoch   (all: {', '.join(f'{t:.2f}' for t in autograd)}); "
          f"hand-derived gradients save {1 - p / a:.0%}")
    print(f"DataLoader pipeline : {d:6.2f} s/epoch   (all: {', '.join(f'{t:.2f}' for t in loader)})")
    print(f"speed-up            : {d / p:6.2f} x   (target: >= 2.5 x)")
    for name, rate in (("matmuls inside a training epoch", flops / min(insitu)),
                       ("step-shape GEMMs, hot caches", max(gemm)), ("1024^3 square matmul", max(peak))):
        floor = flops / rate
        print(f"matmul rate of {name:31s}: {rate / 1e9:6.1f} GFLOP/s -> floor {floor:5.2f} s; "
              f"project / floor = {p / floor:4.2f}")
    ratios = sorted(t / f for t, f in stepwise)
    print(f"step by step, project / floor of each repeat: {', '.join(f'{r:.2f}' for r in ratios)} "
          f"(median {ratios[len(ratios) // 2]:.2f}; GEMMs at {', '.join(f'{flops / f / 1e9:.0f}' for _, f in stepwise)}"
          " GFLOP/s)")
    print("(target: project / floor <= 1.4. The best-of figures pair times taken seconds apart; the step-by-step one "
          "pairs each step with its own floor, so the machine's slow and fast phases disturb it least)")


if __name__ == "__main__":
    main()
