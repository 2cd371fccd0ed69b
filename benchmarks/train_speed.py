"""Time one training epoch of the MLP VAE (784-400-20, batch 128, Adam 1e-3): the project's pipeline against the
usual tutorial pipeline, in one run, interleaved, so that the machine's noise hits both alike.

  project    : `vae_helpers.fit` (one tensor, batches by index_select, `train_epoch`: loss.backward() and
               torch.optim.Adam), on statically binarized MNIST;
  project, fused Adam: the same with `optimizer=torch.optim.Adam(..., fused=True)`, to see whether the flag helps;
  DataLoader : the seed's `DataLoader(torchvision.datasets.MNIST(transform=ToTensor()), shuffle=True)` driving the same
               model, loss (`vae_helpers.losses.elbo`) and torch.optim.Adam.

The figure of merit is the ratio DataLoader / project (target >= 2). Usage: python benchmarks/train_speed.py [--repeats 3]
"""
import argparse
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vae_helpers import MLPVAE, fit, load_mnist, set_seed
from vae_helpers.data import raw_folder
from vae_helpers.losses import elbo

BATCH, LR = 128, 1e-3


def project_epoch(x: torch.Tensor, fused: bool = False) -> float:
    """Seconds for one epoch of `fit` on the in-memory tensor."""
    set_seed(0)
    model = MLPVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True) if fused else None
    history = fit(model, x, epochs=1, batch_size=BATCH, lr=LR, seed=0, progress=False, optimizer=optimizer)
    return history["seconds"][0]


def dataloader_epoch(root) -> float:
    """Seconds for one epoch driven by torchvision's MNIST dataset with a per-sample ToTensor transform."""
    set_seed(0)
    model = MLPVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor()),
                        batch_size=BATCH, shuffle=True)
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
    args = parser.parse_args()
    x, _ = load_mnist("train", binarize="static")
    times = {"project": [], "project, fused Adam": [], "DataLoader": []}
    with raw_folder("mnist") as root:
        for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit every figure alike
            times["project"].append(project_epoch(x))
            times["project, fused Adam"].append(project_epoch(x, fused=True))
            times["DataLoader"].append(dataloader_epoch(root))
            print("  " + ", ".join(f"{name} {seconds[-1]:.2f} s" for name, seconds in times.items()), flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats} epochs each")
    for name, seconds in times.items():
        print(f"{name:20s}: {min(seconds):6.2f} s/epoch   (all: {', '.join(f'{t:.2f}' for t in seconds)})")
    best = {name: min(seconds) for name, seconds in times.items()}
    print(f"fused Adam saves {1 - best['project, fused Adam'] / best['project']:.0%} of the project epoch")
    print(f"speed-up DataLoader / project: {best['DataLoader'] / best['project']:.2f} x   (target: >= 2 x)")


if __name__ == "__main__":
    main()
