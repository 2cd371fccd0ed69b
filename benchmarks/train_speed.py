"""Time one training epoch of the MLP VAE (784-400-20, batch 128, Adam 1e-3): the project's pipeline against the
usual tutorial pipeline, in one run, interleaved, so that the machine's noise hits both alike.

  project    : `vae_helpers.fit` (one tensor, batches by index_select, `train_epoch`: loss.backward() and
               torch.optim.Adam(fused=True), fit's default), on statically binarized MNIST;
  project, plain Adam: the same with torch.optim.Adam's default (foreach) implementation, to see what fused saves;
  DataLoader : the seed's `DataLoader(torchvision.datasets.MNIST(transform=ToTensor()), shuffle=True)` driving the same
               model, loss (`vae_helpers.losses.elbo`) and torch.optim.Adam.

The figure of merit is the ratio DataLoader / project (target >= 2). Usage: python benchmarks/train_speed.py [--repeats 3] [--n 60000]
"""
import argparse
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


def dataloader_epoch(root, n: int) -> float:
    """Seconds for one epoch driven by torchvision's MNIST dataset with a per-sample ToTensor transform."""
    set_seed(0)
    model = MLPVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(Subset(dataset, range(n)), batch_size=BATCH, shuffle=True)
    start = time.perf_counter()
    for x, _ in loader:
        loss = elbo(model, x).loss.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per pipeline; the fastest counts")
    parser.add_argument("--n", type=int, default=60_000, help="training images an epoch (the first n, both pipelines)")
    args = parser.parse_args()
    x = load_mnist("train", binarize="static")[0][:args.n]
    times = {"project": [], "project, plain Adam": [], "DataLoader": []}
    with raw_folder("mnist") as root:
        for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit every figure alike
            times["project"].append(project_epoch(x))
            times["project, plain Adam"].append(project_epoch(x, fused=False))
            times["DataLoader"].append(dataloader_epoch(root, args.n))
            print("  " + ", ".join(f"{name} {seconds[-1]:.2f} s" for name, seconds in times.items()), flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.n} images an epoch; "
          f"best of {args.repeats} epochs each")
    for name, seconds in times.items():
        print(f"{name:20s}: {min(seconds):6.2f} s/epoch   (all: {', '.join(f'{t:.2f}' for t in seconds)})")
    best = {name: min(seconds) for name, seconds in times.items()}
    print(f"fused Adam (fit's default) saves {1 - best['project'] / best['project, plain Adam']:.0%} of the epoch")
    print(f"speed-up DataLoader / project: {best['DataLoader'] / best['project']:.2f} x   (target: >= 2 x)")


if __name__ == "__main__":
    main()
