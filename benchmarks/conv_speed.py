"""Time one training epoch of the project's ConvVAE against the same network four times wider, in one run.

The project's ConvVAE (notebook 06): Conv(1->16, 4x4, stride 2), LeakyReLU, Conv(16->32, 4x4, stride 2), BatchNorm,
LeakyReLU, linear heads to (mu, logvar); the decoder mirrors it with transposed convolutions. The wide variant has
64 and 128 channels, the width DCGAN-style examples often use: what the narrow channels save. (It is not any
particular tutorial's model.) The project's ConvVAE is also timed with channels-last weights, to see what that
layout buys on this machine.
Both: 20-D latent, batch 128, Adam 1e-3, statically binarized MNIST, `vae_helpers.train.fit`.

Usage: python benchmarks/conv_speed.py [--repeats 2] [--n 60000] [--skip-wide]
"""
import argparse

import torch

from vae_helpers import ConvVAE, fit, load_mnist, set_seed


def wide_model() -> ConvVAE:
    """The same conv VAE with 64/128 channels."""
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
    parser.add_argument("--skip-wide", action="store_true", help="time only the project's ConvVAE, both layouts")
    args = parser.parse_args()
    x = load_mnist("train", binarize="round")[0][:args.n]
    ours, last, wide = [], [], []
    for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit both alike
        ours.append(epoch_seconds(ConvVAE, x))
        last.append(epoch_seconds(channels_last_model, x))
        if not args.skip_wide:
            wide.append(epoch_seconds(wide_model, x))
        print(f"  default layout {ours[-1]:.2f} s, channels-last {last[-1]:.2f} s", flush=True)
    n_ours, n_wide = (sum(p.numel() for p in m().parameters()) for m in (ConvVAE, wide_model))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"project ConvVAE (16/32 ch, {n_ours:,} params)    : {min(ours):5.1f} s/epoch  "
          f"(all: {', '.join(f'{t:.1f}' for t in ours)}; target <= 8 s)")
    print(f"  ... with channels-last weights            : {min(last):5.1f} s/epoch  "
          f"(all: {', '.join(f'{t:.1f}' for t in last)})")
    print(f"channels-last saves {1 - min(last) / min(ours):.0%} of the epoch")
    if wide:
        print(f"wide conv VAE (64/128 ch, {n_wide:,} params): {min(wide):5.1f} s/epoch  "
              f"(all: {', '.join(f'{t:.1f}' for t in wide)})")
        print(f"speed-up: {min(wide) / min(ours):.1f} x")


if __name__ == "__main__":
    main()
