"""Time one training epoch of the MLP VAE (784-400-20, batch 128, Adam 1e-3): the project's pipeline against the
usual tutorial pipeline, in one run, interleaved, so that the machine's noise hits both alike.

  project    : `vae_helpers.fit` (one tensor, batches by index_select, `train_epoch`: loss.backward() and
               torch.optim.Adam(fused=True), fit's default), on statically binarized MNIST;
  project, plain Adam: the same with torch.optim.Adam's default (foreach) implementation, to see what fused saves;
  floor      : the same number of steps on one fixed batch, no data pipeline at all: the model's own cost (forward,
               backward, fused Adam), so DataLoader / floor bounds the speed-up any data pipeline can give here;
  DataLoader : the tutorial pipeline `DataLoader(torchvision.datasets.MNIST(transform=ToTensor()), shuffle=True)`
               driving the same model, loss (`vae_helpers.losses.elbo`) and torch.optim.Adam, on grey images;
  DataLoader, + round: the seed's own benchmark pipeline, transform=Compose([ToTensor(), torch.round]): the same
               statically binarized images the project trains on.

The target: project / floor <= 1.05, i.e. fit's epoch within 5% of the same steps on one fixed batch (the
no-pipeline floor: what is left is the model's own cost, which no data pipeline removes). DataLoader / project is
reported as a figure, not against a target: it is bounded by DataLoader / floor, which depends on the machine
(about 1.8x on 2 cores). Usage: python benchmarks/train_speed.py [--repeats 3] [--n 60000]
"""
import argparse
import itertools
import math
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from vae_helpers import MLPVAE, fit, load_mnist, set_seed
from vae_helpers.data import raw_folder
from vae_helpers.losses import elbo

BATCH, LR = 128, 1e-3


def project_epoch(x: torch.Tensor, fused: bool = True) -> float:
    """Seconds for one epoch of `fit` on the in-memory tensor."""
    set_seed(0)
    model = MLPVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=fused)
    history = fit(model, x, epochs=1, batch_size=BATCH, lr=LR, seed=0, progress=False, optimizer=optimizer)
    return history["seconds"][0]


def timed_steps(batches, fused: bool, check_x: bool = True) -> float:
    """Seconds to run the training step (elbo, zero_grad, backward, Adam) on every batch of the iterable that
    batches() returns, drawing them included, from a freshly seeded model (batches is called after seeding)."""
    set_seed(0)
    model = MLPVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=fused)
    start = time.perf_counter()
    for xb in batches():
        loss = elbo(model, xb, check_x=check_x).loss.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def floor_epoch(x: torch.Tensor) -> float:
    """Seconds for as many training steps as an epoch has, all on the first batch: no data pipeline."""
    xb, steps = x[:BATCH].clone(), math.ceil(len(x) / BATCH)
    return timed_steps(lambda: itertools.repeat(xb, steps), fused=True, check_x=False)


def dataloader_epoch(root, n: int, binarize: bool = False) -> float:
    """Seconds for one epoch driven by torchvision's MNIST dataset with a per-sample ToTensor transform (then
    torch.round, binarize=True), with torch.optim.Adam's default implementation."""
    transform = transforms.Compose([transforms.ToTensor(), torch.round]) if binarize else transforms.ToTensor()
    dataset = datasets.MNIST(root, train=True, download=False, transform=transform)
    loader = DataLoader(Subset(dataset, range(n)), batch_size=BATCH, shuffle=True)
    return timed_steps(lambda: (x for x, _ in loader), fused=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per pipeline; the fastest counts")
    parser.add_argument("--n", type=int, default=60_000, help="training images an epoch (the first n, both pipelines)")
    args = parser.parse_args()
    x = load_mnist("train", binarize="round")[0][:args.n]
    times = {"project": [], "project, plain Adam": [], "floor": [], "DataLoader": [], "DataLoader, + round": []}
    with raw_folder("mnist") as root:
        for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit every figure alike
            times["project"].append(project_epoch(x))
            times["project, plain Adam"].append(project_epoch(x, fused=False))
            times["floor"].append(floor_epoch(x))
            times["DataLoader"].append(dataloader_epoch(root, args.n))
            times["DataLoader, + round"].append(dataloader_epoch(root, args.n, binarize=True))
            print("  " + ", ".join(f"{name} {seconds[-1]:.2f} s" for name, seconds in times.items()), flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.n} images an epoch; "
          f"best of {args.repeats} epochs each")
    for name, seconds in times.items():
        print(f"{name:20s}: {min(seconds):6.2f} s/epoch   (all: {', '.join(f'{t:.2f}' for t in seconds)})")
    best = {name: min(seconds) for name, seconds in times.items()}
    print(f"fused Adam (fit's default) saves {1 - best['project'] / best['project, plain Adam']:.0%} of the epoch")
    ratio = best["project"] / best["floor"]
    print(f"project / floor: {ratio:.2f}   (target: <= 1.05, fit's epoch within 5% of the same steps on one fixed "
          f"batch: {'met' if ratio <= 1.05 else 'NOT met'})")
    for name in ("DataLoader", "DataLoader, + round"):
        print(f"{name} / project: {best[name] / best['project']:.2f} x   (a figure, no target; no data pipeline "
              f"could exceed {name} / floor = {best[name] / best['floor']:.2f} x on this machine)")


if __name__ == "__main__":
    main()
