"""Save and load models with their configuration; loading never unpickles code (`weights_only=True`)."""
import io
from dataclasses import asdict
from pathlib import Path

import torch

from . import cachefiles
from .digests import weights_digest
from .models import MODELS

FORMAT = "vae_helpers.checkpoint/1"


def config_dict(model) -> dict:
    """The model's configuration as plain Python values (tuples become lists, as they load back)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}


def provenance(model, history=None) -> dict:
    """What the model's weights went through: {"weights": their SHA-256 digest now, "run": fit's record of the run
    that produced them (history["run"]: start weights, optimizer, data, epochs...), or None when unknown}.

    history: the dict fit returned; it must describe these weights (ValueError otherwise). Without it, the record
    fit attached to the model (model.provenance) is used while the weights are still the ones that run ended with.
    """
    digest = weights_digest(model)
    if history is not None:
        run = history.get("run") if isinstance(history, dict) else None
        if not isinstance(run, dict):
            raise ValueError("history must be the dict fit returned (with its 'run' record), got "
                             f"{type(history).__name__}{'' if not isinstance(history, dict) else ' without run'}")
        if run.get("end_weights") != digest:
            raise ValueError("history does not describe this model's weights: they changed after the fit that "
                             "returned it (trained again, or edited); pass the history of the last fit, or none")
    else:
        run = getattr(model, "provenance", None)
        if not isinstance(run, dict) or run.get("end_weights") != digest:
            run = None                                   # never trained by fit, or changed since
    return {"weights": digest, "run": run}


def contents(model, history=None) -> dict:
    """What `save` writes: the format tag, the model's class name, its configuration, its weights and their
    provenance (see `provenance`)."""
    return {"format": FORMAT, "model": type(model).__name__, "config": config_dict(model),
            "state_dict": model.state_dict(), "provenance": provenance(model, history)}


def save(model, path, history=None) -> Path:
    """Write the model's class name, configuration, weights and provenance to `path` (`~` allowed); return the path.

    history (optional): the dict fit returned for these weights, recorded as what they went through (by default
    the record fit left on the model, while the weights are unchanged). The file is written beside `path` and
    moved into place in one step, so an interrupted save leaves the old file.
    """
    return cachefiles.save_torch(contents(model, history), Path(path).expanduser())


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
    missing = [key for key in ("model", "config", "state_dict") if key not in ckpt]
    if missing or not isinstance(ckpt["config"], dict) or not isinstance(ckpt["state_dict"], dict):
        what = f"it has no {', '.join(missing)}" if missing else "its config or state_dict is not a dict"
        raise ValueError(f"{path} is not a complete vae_helpers checkpoint: {what}. Save the model again with "
                         "vae_helpers.checkpoints.save(model, path).")
    name, config = ckpt["model"], ckpt["config"]
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"{path} holds a {name}, which vae_helpers does not define (known: {sorted(MODELS)}).")
    dtypes = {v.dtype for v in ckpt["state_dict"].values() if isinstance(v, torch.Tensor) and v.is_floating_point()}
    if len(dtypes) > 1:
        raise ValueError(f"{path} holds weights of several dtypes ({sorted(map(str, dtypes))}); a vae_helpers "
                         "model has one: convert it (model.float() or model.double()) and save it again")
    if model is None:
        try:
            model = MODELS[name](**config)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path} holds a configuration {name} cannot be built from ({config}): {err}") from err
        if dtypes:
            model = model.to(next(iter(dtypes)))         # a float64 model comes back float64
    else:
        mine = config_dict(model)
        if type(model).__name__ != name or mine != config:
            raise ValueError(f"{path} was saved from {name}({config}), but the model given is "
                             f"{type(model).__name__}({mine}). Build the model with the saved configuration, "
                             "or call load(path) without a model to rebuild it.")
        mine = {p.dtype for p in model.parameters()}
        if dtypes and mine != dtypes:
            raise ValueError(f"{path} holds {next(iter(dtypes))} weights, the model given is {sorted(map(str, mine))}: "
                             f"convert it first (model.to({next(iter(dtypes))})), or call load(path) without a model")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"The weights in {path} do not fit {name}({config}): {err}") from err
    record = ckpt.get("provenance")
    if isinstance(record, dict) and isinstance(record.get("run"), dict):
        model.provenance = record["run"]                 # what these weights went through, as saved
    return model.to(device).eval()
