import hashlib
import shutil

import pytest
import torch

from vae_helpers import data, load_fashion_mnist, load_mnist
from vae_helpers.data import CorruptedDataError


def test_mnist_shapes_dtypes_and_range():
    x, y = load_mnist("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    assert x.min() == 0 and x.max() == 1
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_train_is_the_canonical_file():
    with data.raw_folder("mnist") as root:
        raw = (root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()
    assert hashlib.md5(raw).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
    x, y = load_mnist("train")
    assert x.shape == (60000, 1, 28, 28) and y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]


def test_static_binarization_rounds_at_half():
    grey, _ = load_mnist("test")
    static, _ = load_mnist("test", binarize="round")
    assert set(static.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(static, (grey >= 0.5).float())


def test_dynamic_binarization_is_a_seeded_bernoulli_draw():
    grey, _ = load_mnist("test")
    a, _ = load_mnist("test", binarize="sample", seed=1)
    b, _ = load_mnist("test", binarize="sample", seed=1)
    c, _ = load_mnist("test", binarize="sample", seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert a.mean().item() == pytest.approx(grey.mean().item(), abs=2e-3)  # E[Bernoulli(p)] = p


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="binarize"):
        load_mnist("test", binarize="otsu")
    with pytest.raises(ValueError, match="test set"):
        load_fashion_mnist("train")


def test_fashion_mnist():
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.bincount(y).tolist() == [1000] * 10


def test_missing_file_names_it_and_says_what_to_do(tmp_path):
    folder = shutil.copytree(data.DATA_DIR / "mnist", tmp_path / "mnist")
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz is missing.*restore"):
        load_mnist("test", data_dir=folder)


def test_corrupted_file_names_it_and_says_what_to_do(tmp_path):
    folder = shutil.copytree(data.DATA_DIR / "mnist", tmp_path / "mnist")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF  # flip one byte
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptedDataError, match=r"t10k-labels-idx1-ubyte\.gz is corrupted.*SHA-256"):
        load_mnist("test", data_dir=folder)


def test_checksums_once_per_process_or_every_load_when_asked(tmp_path, monkeypatch):
    folder = shutil.copytree(data.DATA_DIR / "mnist", tmp_path / "mnist")
    monkeypatch.delenv(data.CHECK_EVERY_LOAD, raising=False)
    x, _ = load_mnist("test", data_dir=folder)                  # checked: the first load in this process
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert torch.equal(load_mnist("test", data_dir=folder)[0], x)   # later loads: from memory, as documented
    monkeypatch.setenv(data.CHECK_EVERY_LOAD, "1")
    with pytest.raises(CorruptedDataError, match="corrupted"):
        load_mnist("test", data_dir=folder)


def test_a_malformed_checksum_list_is_named(tmp_path):                  # issue 23, item 17
    folder = shutil.copytree(data.DATA_DIR / "mnist", tmp_path / "mnist")
    sums = folder / "SHA256SUMS"
    sums.write_text(sums.read_text() + "deadbeef extra words here\n")
    with pytest.raises(CorruptedDataError, match=rf"{sums}, line \d+, is not '<64 hex digits>  <file name>'"):
        load_mnist("test", data_dir=folder)


def test_data_dir_expands_the_home_folder(tmp_path, monkeypatch):       # issue 23, item 17
    shutil.copytree(data.DATA_DIR / "mnist", tmp_path / "copy")
    monkeypatch.setenv("HOME", str(tmp_path))
    x, y = load_mnist("test", data_dir="~/copy")
    assert x.shape == (10_000, 1, 28, 28) and torch.equal(x, load_mnist("test")[0])
