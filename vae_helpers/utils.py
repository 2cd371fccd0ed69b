"""Small shared utilities: seeding, device choice, smoke-test mode."""
import numbers
import os
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


def check_seed(seed, name: str = "seed", allow_none: bool = True) -> None:
    """Raise a ValueError naming `name` unless seed is an integer in [0, 2**32) (what NumPy accepts), or None."""
    if seed is None and allow_none:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"{name} must be an integer in [0, 2**32), e.g. {name}=0, got {seed!r}")


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so that a notebook gives the same numbers on the same machine.

    The seed is checked before anything is seeded, so a bad one (1.5, -1) leaves every generator as it was.
    """
    check_seed(seed, allow_none=False)
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextmanager
def preserved_random_state():
    """Put Python's, NumPy's and torch's random states back as they were on exit.

    The caches train a missing model inside it (zoo.train, the explorer's Cache.train): training reseeds and draws
    thousands of numbers, and without it a notebook would draw different numbers afterwards on the run that
    trained its models than on the runs that loaded them.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng():    # torch's CPU generator, and every CUDA device's that is in use
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def get_device(prefer_gpu: bool = False) -> torch.device:
    """The CPU, or the first CUDA GPU when `prefer_gpu` is True and one is present."""
    if prefer_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def is_smoke_test() -> bool:
    """True under CI (the `CI` environment variable is set): notebooks shrink epochs and data to run in seconds."""
    return "CI" in os.environ


def cache_dir(name: str, env_var: str) -> Path:
    """$env_var, else ~/.cache/vae_helpers/<name>; a smoke/ subfolder under CI keeps tiny models apart."""
    root = Path(os.environ.get(env_var, Path.home() / ".cache" / "vae_helpers" / name))
    return root / "smoke" if is_smoke_test() else root


def shown(path) -> str:
    """A path as printed in notebooks: the home folder as ~, so that no machine's paths end up in outputs."""
    path, home = Path(path).resolve(), Path.home().resolve()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


@contextmanager
def evaluating(model):
    """`with evaluating(model):` runs the block in eval mode, then puts back the mode the model was in.

    Eval mode matters for BatchNorm (running statistics) and Dropout (off); a helper that called model.eval()
    and left it so would make the rest of a training epoch run in eval mode.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
