"""Time the Bernoulli likelihood's elementwise work: torch's builtins against `vae_helpers.losses.softplus`
(written out with exp and log, the log-sum-exp trick), in one run, interleaved.

  IWAE      : softplus of 1,000 decoded samples' logits, no gradient (what losses.log_weights computes per chunk,
              notebook 09's main cost): F.softplus against losses.softplus;
  training  : -log p(x|z) of a batch of 128 images, forward and backward: F.binary_cross_entropy_with_logits
              (what losses.bernoulli_log_likelihood and so every step of `fit` use) against softplus(l) - x l.
              For information: fit keeps the builtin that notebook 04 teaches.

Usage: python benchmarks/loss_speed.py [--repeats 5]
"""
import argparse
import time

import torch
import torch.nn.functional as F

from vae_helpers import losses


def per_call_ms(fn, calls: int = 200) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per variant; the fastest counts")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(128, 1, 28, 28, generator=g)).requires_grad_()   # (B, 1, 28, 28)
    x = torch.bernoulli(torch.full((128, 1, 28, 28), 0.13), generator=g)       # binary pixels, MNIST's ink share
    u = 4 * torch.randn(1000, 784, generator=g)                                # (samples, pixels)

    def builtin_bce():
        F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean().backward()

    def package_bce():
        (losses.softplus(logits) - x * logits).flatten(1).sum(1).mean().backward()

    variants = {"training, F.binary_cross_entropy_with_logits": builtin_bce,
                "training, losses.softplus(l) - x l": package_bce,
                "IWAE, F.softplus": lambda: F.softplus(u).sum(-1),
                "IWAE, losses.softplus": lambda: losses.softplus(u).sum(-1)}
    with torch.no_grad():
        torch.testing.assert_close(losses.softplus(u), F.softplus(u))
        torch.testing.assert_close(losses.softplus(logits) - x * logits,
                                   F.binary_cross_entropy_with_logits(logits, x, reduction="none"))
    times = {name: [] for name in variants}
    for _ in range(args.repeats):  # interleaved, so that drifts in machine speed hit every figure alike
        for name, fn in variants.items():
            times[name].append(per_call_ms(fn))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats}")
    for name, ms in times.items():
        print(f"{name:48s}: {min(ms):6.3f} ms per call")
    best = {name: min(ms) for name, ms in times.items()}
    names = list(best)
    print(f"speed-up, IWAE: {best[names[2]] / best[names[3]]:.1f} x;  training: {best[names[0]] / best[names[1]]:.1f} x")


if __name__ == "__main__":
    main()
