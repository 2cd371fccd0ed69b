"""Save and load models with their configuration; loading never unpickles code (`weights_only=True`)."""
import io
from dataclasses import asdict
from pathlib import Path

import torch

from . import cachefiles
from .models import MODELS

FORMAT = "vae_helpers.checkpoint/1"


def config_dict(model) -> dict:
    """The model's configuration as plain Python values (tuples become lists, as they load back)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}


def contents(model) -> dict:
    """What `save` writes: the format tag, the model's class name, its configuration and its weights."""
    return {"format": FORMAT, "model": type(model).__name__, "config": config_dict(model),
            "state_dict": model.state_dict()}


def save(model, path) -> Path:
    """Write the model's class name, configuration and weights to `path` (`~` allowed) and return the path.

    The file is written beside `path` and moved into place in one step, so an interrupted save leaves the old file.
    """
    return cachefiles.save_torch(contents(model), Path(path).expanduser())


def _read(path: Path, data: bytes | None = None) -> dict:
    if data is None and not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; save one first with vae_helpers.checkpoints.save(model, path).")
    try:
        ckpt = torch.load(path if data is None else io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # a pickle with code in it, a truncated file, not a torch file at all
        raise ValueError(f"{path} is not a readable vae_helpers checkpoint ({type(err).__name__}: {err}). "
                         "Only files written by vae_helpers.checkpoints.save can be loaded.") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a vae_helpers checkpoint (expected format {FORMAT!r}). "
                         "Only files written by vae_helpers.checkpoints.save can be loaded.")
    return ckpt


def load(path, model=None, device="cpu", *, data: bytes | None = None):
    """Rebuild the saved model (or fill `model`, whose configuration must match) and return it in eval mode.

    data: the file's bytes when they were already read (the caches pass the bytes whose SHA-256 they checked).
    """
    path = Path(path).expanduser()
    ckpt = _read(path, data)
    name, config = ckpt["model"], ckpt["config"]
    if name not in MODELS:
        raise ValueError(f"{path} holds a {name}, which vae_helpers does not define (known: {sorted(MODELS)}).")
    if model is None:
        model = MODELS[name](**config)
    else:
        mine = config_dict(model)
        if type(model).__name__ != name or mine != config:
            raise ValueError(f"{path} was saved from {name}({config}), but the model given is "
                             f"{type(model).__name__}({mine}). Build the model with the saved configuration, "
                             "or call load(path) without a model to rebuild it.")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"The weights in {path} do not fit {name}({config}): {err}") from err
    return model.to(device).eval()
