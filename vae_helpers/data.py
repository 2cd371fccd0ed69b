"""MNIST and Fashion-MNIST, offline: the IDX files ship inside the package and are checked before use.

Each file's SHA-256 is checked the first time a process loads it; the decoded images are then kept in memory, so
later loads in the same process are instant and not checked again. Set the environment variable
VAE_CHECK_DATA_EVERY_LOAD=1 to read and check the files on every load.
"""
import contextlib
import functools
import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

DATA_DIR = Path(__file__).parent / "datafiles"
SPLIT_FILES = {"train": "train", "test": "t10k"}  # split -> IDX file prefix
BINARIZE = (None, "round", "sample")
RENAMED = {"static": "round", "dynamic": "sample"}  # the names before Dec 2026
CHECK_EVERY_LOAD = "VAE_CHECK_DATA_EVERY_LOAD"    # set (not "0") to check the SHA-256 on every load


class CorruptedDataError(ValueError):
    """A shipped data file whose SHA-256 does not match its SHA256SUMS line."""


def _restore_hint(path: Path) -> str:
    return (f"It ships with vae_helpers: restore it with `git checkout -- {path.name}` inside {path.parent} "
            "(or reinstall the package with `pip install -e .` from the repository root).")


def _expected_sha256(folder: Path) -> dict[str, str]:
    """Parse `folder/SHA256SUMS` into {file name: hex digest}."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(f"Checksum list {sums} is missing. {_restore_hint(sums)}")
    expected = {}
    for number, line in enumerate(sums.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or len(fields[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in fields[0]):
            raise CorruptedDataError(f"{sums}, line {number}, is not '<64 hex digits>  <file name>': {line!r}. "
                                     f"{_restore_hint(sums)}")
        expected[fields[1].lstrip("*")] = fields[0].lower()
    return expected


def verified_bytes(path: Path) -> bytes:
    """The uncompressed bytes of `path` (a .gz), after checking its SHA-256 against SHA256SUMS beside it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Data file {path} is missing. {_restore_hint(path)}")
    raw = path.read_bytes()
    expected = _expected_sha256(path.parent).get(path.name)
    if expected is None:
        raise CorruptedDataError(f"{path.name} is not listed in {path.parent / 'SHA256SUMS'}; cannot verify it.")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise CorruptedDataError(
            f"Data file {path} is corrupted: its SHA-256 is {actual}, expected {expected}. {_restore_hint(path)}")
    return gzip.decompress(raw)


@contextlib.contextmanager
def raw_folder(dataset: str = "mnist", data_dir: Path | None = None):
    """Yield a temporary folder `<tmp>/MNIST/raw` holding the verified, uncompressed IDX files.

    This is the layout `torchvision.datasets.MNIST(root=<tmp>, download=False)` reads.
    """
    src = Path(data_dir).expanduser() if data_dir else DATA_DIR / dataset
    with tempfile.TemporaryDirectory(prefix="vae_helpers_") as tmp:
        raw = Path(tmp) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for gz in sorted(src.glob("*.gz")):
            (raw / gz.stem).write_bytes(verified_bytes(gz))
        yield Path(tmp)


def _load_uint8(dataset: str, split: str, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) int64: checked and read once per process, or every time."""
    if os.environ.get(CHECK_EVERY_LOAD, "0") not in ("", "0"):
        _read_uint8.cache_clear()
    return _read_uint8(dataset, split, data_dir)


@functools.lru_cache(maxsize=8)
def _read_uint8(dataset: str, split: str, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) int64, checked then read with torchvision's IDX reader."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(data_dir).expanduser() if data_dir else DATA_DIR / dataset
    prefix = SPLIT_FILES[split]
    images_gz, labels_gz = (folder / f"{prefix}-{kind}-idx{n}-ubyte.gz" for kind, n in (("images", 3), ("labels", 1)))
    if dataset == "fashion-mnist" and split == "train":
        raise ValueError("Only the Fashion-MNIST test set ships with vae_helpers; use split='test'.")
    with tempfile.TemporaryDirectory(prefix="vae_helpers_") as tmp:
        paths = []
        for gz in (images_gz, labels_gz):
            paths.append(Path(tmp) / gz.stem)
            paths[-1].write_bytes(verified_bytes(gz))
        x, y = read_image_file(str(paths[0])), read_label_file(str(paths[1]))
    if len(x) != len(y):
        raise CorruptedDataError(f"{images_gz} holds {len(x)} images but {labels_gz} holds {len(y)} labels.")
    return x, y


def binarize(x: torch.Tensor, how: str | None = "round", seed: int = 0) -> torch.Tensor:
    """Grey levels in [0, 1] -> binary pixels: "round" rounds at 0.5, "sample" draws Bernoulli(grey) once.

    "sample" with a fixed seed is a Larochelle-style static draw (one draw, kept); fresh draws every batch are
    `fit(..., binarize="dynamic")`.
    """
    if how in RENAMED:
        raise ValueError(f"binarize={how!r} was renamed: use binarize={RENAMED[how]!r} "
                         f"({'round at 0.5' if how == 'static' else 'one seeded Bernoulli draw per pixel'}); "
                         "fresh draws every batch are fit(..., binarize='dynamic')")
    if how not in BINARIZE:
        raise ValueError(f"binarize must be one of {BINARIZE}, got {how!r}")
    if how == "round":
        return (x >= 0.5).float()  # round at 0.5: the classic Bernoulli-VAE posts
    if how == "sample":
        return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))  # one draw, p = grey level (on x's device)
    return x


def _to_float(x_uint8: torch.Tensor, how: str | None, seed: int) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], binarized as asked."""
    return binarize(x_uint8.unsqueeze(1).float().div_(255.0), how, seed)  # (N, 1, 28, 28)


def load_mnist(split: str = "train", binarize: str | None = None, seed: int = 0, data_dir=None):
    """MNIST as `(x, y)`: x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,).

    binarize: None keeps grey levels; "round" rounds at 0.5; "sample" draws each pixel from
    Bernoulli(grey level) once, with `seed` (use it for a fixed, stochastically binarized test set).
    For fresh draws every epoch (the literature's convention), load grey levels and call
    `fit(..., binarize="dynamic")`.
    """
    x, y = _load_uint8("mnist", split, str(data_dir) if data_dir else None)
    return _to_float(x, binarize, seed), y.clone()


def load_fashion_mnist(split: str = "test", binarize: str | None = None, seed: int = 0, data_dir=None):
    """The Fashion-MNIST test set as `(x, y)`, shaped and binarized like `load_mnist`."""
    x, y = _load_uint8("fashion-mnist", split, str(data_dir) if data_dir else None)
    return _to_float(x, binarize, seed), y.clone()

