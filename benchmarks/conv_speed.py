"""Time one training epoch of the project's ConvVAE against the classic lab's DCGAN-style conv VAE, in one run.

The classic lab's architecture: Conv(1->64, 4x4, stride 2), LeakyReLU, Conv(64->128, 4x4, stride 2), BatchNorm,
LeakyReLU, Linear to (mu, logvar); the decoder mirrors it with transposed convolutions; tensors in PyTorch's default
(contiguous) layout. The project's ConvVAE has the same shape with 16 and 32 channels; it is timed in the default
layout and with channels-last weights, to see what that layout buys on this machine.
Both: 20-D latent, batch 128, Adam 1e-3, statically binarized MNIST, `vae_helpers.train.fit`.

Usage: python benchmarks/conv_speed.py [--repeats 2] [--n 60000] [--skip-classic]
"""
import argparse

import torch

from vae_helpers import ConvVAE, fit, load_mnist, set_seed


def classic_lab_model() -> ConvVAE:
    """The classic lab's 64/128-channel DCGAN conv VAE."""
    return ConvVAE(channels=(64, 128))


def channels_last_model() -> ConvVAE:
    """The project's ConvVAE with its weights stored channels-last (activations follow the weights' layout)."""
    return ConvVAE().to(memory_format=torch.channels_last)


def epoch_seconds(make_model, x: torch.Tensor) -> float:
    set_seed(0)
    return fit(make_model(), x, epochs=1, seed=0, progress=False)["seconds"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per model; the fastest counts")
    parser.add_argument("--n", type=int, default=60_000, help="training images an epoch (the first n)")
    parser.add_argument("--skip-classic", action="store_true", help="time only the project's ConvVAE, both layouts")
    args = parser.parse_args()
    x = load_mnist("train", binarize="static")[0][:args.n]
    ours, last, classic = [], [], []
    for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit both alike
        ours.append(epoch_seconds(ConvVAE, x))
        last.append(epoch_seconds(channels_last_model, x))
        if not args.skip_classic:
            classic.append(epoch_seconds(classic_lab_model, x))
        print(f"  default layout {ours[-1]:.2f} s, channels-last {last[-1]:.2f} s", flush=True)
    n_ours, n_classic = (sum(p.numel() for p in m().parameters()) for m in (ConvVAE, classic_lab_model))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"project ConvVAE (16/32 ch, {n_ours:,} params)    : {min(ours):5.1f} s/epoch  "
          f"(all: {', '.join(f'{t:.1f}' for t in ours)}; target <= 8 s)")
    print(f"  ... with channels-last weights            : {min(last):5.1f} s/epoch  "
          f"(all: {', '.join(f'{t:.1f}' for t in last)})")
    print(f"channels-last saves {1 - min(last) / min(ours):.0%} of the epoch")
    if classic:
        print(f"classic lab conv VAE (64/128 ch, {n_classic:,} params): {min(classic):5.1f} s/epoch  "
              f"(all: {', '.join(f'{t:.1f}' for t in classic)})")
        print(f"speed-up: {min(classic) / min(ours):.1f} x")


if __name__ == "__main__":
    main()
