"""Shared by the cache tests: histories as fit returns them, read-only folders as root sees them, file snapshots,
and the random numbers a caller draws after a cache call."""
import os
import random
from pathlib import Path

import numpy as np
import torch

from vae_helpers import cachefiles, set_seed
from vae_helpers.digests import optimizer_record, tensor_digest, weights_digest


def history(epochs=10, n_train=60_000, binarize=None, seed=0, interrupted=False, stopped_early=False, done=None,
            model="MLPVAE", config=None, provenance=None):
    """A history shaped like fit's (the training-API contract), for `done` epochs of `epochs` requested.

    provenance: what fit records about the weights (start_weights, end_weights, optimizer, data), merged into run.
    """
    done = epochs if done is None else done
    per_epoch = [100.0 - e for e in range(done)]
    return {"epoch": list(range(1, done + 1)), "train_neg_elbo": per_epoch, "train_recon": per_epoch,
            "train_kl": [0.0] * done, "test_neg_elbo": per_epoch, "test_recon": per_epoch, "test_kl": [0.0] * done,
            "val_neg_elbo": [None] * done, "seconds": [0.1] * done,
            "run": {"model": model, "config": config or {"latent_dim": 20, "hidden": [400]}, "epochs": epochs,
                    "n_train": n_train, "batch_size": 128, "lr": 1e-3, "beta": 1.0, "seed": seed,
                    "binarize": binarize, "loss_fn": "elbo", **(provenance or {})},
            "interrupted": interrupted, "stopped_early": stopped_early, "best_epoch": None}


def provenance_of(model, train_x, train_y=None, lr=1e-3):
    """What fit records about an untrained run of `model` on train_x with Adam(lr): the weights stay as they are."""
    return {"start_weights": weights_digest(model), "end_weights": weights_digest(model),
            "optimizer": optimizer_record(torch.optim.Adam(model.parameters(), lr=lr)),
            "data": {"train_x": tensor_digest(train_x), "train_y": None if train_y is None else tensor_digest(train_y)}}


def fake_fit(model, train_x, test_x=None, epochs=10, batch_size=128, lr=1e-3, beta=1.0, seed=None, binarize=None,
             train_y=None, **_):
    """fit without the training: the model keeps its initial weights, the history says what was asked."""
    h = history(epochs, len(train_x), binarize, seed, provenance=provenance_of(model, train_x, train_y, lr))
    if train_y is not None:
        h["run"]["labels"] = True
    h["run"].update(batch_size=batch_size, lr=lr, beta=beta, model=type(model).__name__)
    return h


def snapshot(folder: Path) -> dict:
    """Every path under `folder` (itself included) with its modification time and size: any write changes it."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in [folder, *sorted(folder.rglob("*"))]}


def read_only(monkeypatch, folder: Path) -> None:
    """Make `folder` read-only as far as the caches can tell, even for root (whom chmod does not stop).

    os.access answers as on a read-only file system, and any temporary file the caches try to create there fails,
    so a test that then finds the snapshot unchanged shows that nothing was written.
    """
    folder = Path(folder).resolve()
    real_access, real_mkstemp = os.access, cachefiles.tempfile.mkstemp

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve().is_relative_to(folder):
            return False
        return real_access(path, mode, *args, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve().is_relative_to(folder):
            raise PermissionError(13, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(cachefiles.tempfile, "mkstemp", mkstemp)


def draws_after(action) -> tuple:
    """What Python, NumPy and torch draw next after set_seed(5) and action(): equal to draws_after(lambda: None)
    when action leaves the caller's random state alone."""
    set_seed(5)
    action()
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()
