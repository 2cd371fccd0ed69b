"""Fingerprints of what a training run used: the weights it started from, its data and its optimizer.

`fit` records them in history["run"]; the zoo compares them with its recipe and `checkpoints.save` writes them
beside the weights, so a model says what it went through, not only what its last call was asked to do.
"""
import hashlib
import math

import torch

IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")   # how a step runs, not what it does


def tensor_digest(x: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and values (on any device; the same values give the same digest)."""
    digest = hashlib.sha256(f"{x.dtype}{tuple(x.shape)}".encode())
    if x.device.type == "meta":
        return "meta:" + digest.hexdigest()          # no values to read
    digest.update(memoryview(x.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy()))
    return digest.hexdigest()


def weights_digest(model) -> str:
    """SHA-256 over every entry of the model's state_dict (names, dtypes, shapes, values) in order."""
    state = model.state_dict() if hasattr(model, "state_dict") else model
    digest = hashlib.sha256()
    for name, value in state.items():
        digest.update(name.encode())
        digest.update(tensor_digest(value).encode() if isinstance(value, torch.Tensor) else repr(value).encode())
    return digest.hexdigest()


def _plain(value):
    """JSON-friendly copy of a hyper-parameter (tuples become lists, 0-d tensors numbers)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value if isinstance(value, (bool, int, float, str, type(None))) else repr(value)


def optimizer_record(optimizer) -> dict:
    """The optimizer's class and hyper-parameters, read from the optimizer itself (its first parameter group;
    `groups` says how many there are): {"class": "Adam", "lr": 0.001, "betas": [0.9, 0.999], ...}."""
    groups = optimizer.param_groups
    record = {"class": type(optimizer).__name__}
    record.update({k: _plain(v) for k, v in groups[0].items() if k != "params" and k not in IMPLEMENTATION_FLAGS})
    if len(groups) > 1:
        record["groups"] = len(groups)
    return record
