"""The course's trained models, kept on disk: notebooks 04 and 06 train them, later notebooks load them.

A later notebook opened first trains the model itself with the same recipe, so every notebook runs on its own.
The cache is $VAE_ZOO_CACHE, else ~/.cache/vae_helpers/models (a smoke/ subfolder under CI); delete it to retrain.
"""
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import checkpoints
from .data import load_mnist
from .models import MODELS
from .train import fit
from .utils import cache_dir, is_smoke_test, set_seed, shown


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is trained: the same calls as the notebook that teaches it."""

    model: str                                   # a class in vae_helpers.models.MODELS
    config: dict = field(default_factory=dict)   # its keyword arguments
    notebook: str = ""                           # where it is trained in full view
    epochs: int = 10                             # smoke mode: 2
    n_train: int = 60_000                        # smoke mode: 2,000 (seed 0 throughout)
    binarize: str = "static"                     # or "dynamic": grey images, fresh binary pixels every batch


RECIPES = {
    "mlp": Recipe("MLPVAE", {"latent_dim": 20, "hidden": [400]}, "notebooks/04_mlp_vae.ipynb"),
    "conv": Recipe("ConvVAE", {"latent_dim": 20, "channels": [16, 32]}, "notebooks/06_conv_vae.ipynb"),
    "mlp_dynamic": Recipe("MLPVAE", {"latent_dim": 20, "hidden": [400]}, "notebooks/04_mlp_vae.ipynb",
                          epochs=5, binarize="dynamic"),
}


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"no zoo model called {name!r}; known: {sorted(RECIPES)}")
    recipe = RECIPES[name]
    return replace(recipe, epochs=min(recipe.epochs, 2), n_train=2_000) if is_smoke_test() else recipe


def _folder(folder) -> Path:
    return cache_dir("models", "VAE_ZOO_CACHE") if folder is None else Path(folder)


def store(name: str, model, history: dict, folder=None) -> None:
    """Save a model trained with RECIPES[name] (and its fit history) for later notebooks."""
    recipe, folder, config = _recipe(name), _folder(folder), checkpoints.config_dict(model)
    if type(model).__name__ != recipe.model or any(config.get(k) != v for k, v in recipe.config.items()):
        raise ValueError(f"{name!r} must be a {recipe.model}({recipe.config}), got {type(model).__name__} "
                         f"{config}; store it under another name or change RECIPES.")
    checkpoints.save(model, folder / f"{name}.pt")
    (folder / f"{name}.json").write_text(json.dumps({"recipe": asdict(recipe), "history": history}))


def train(name: str, folder=None, progress: bool = True):
    """Train RECIPES[name] exactly as its notebook does, store it, and return (model, history)."""
    recipe = _recipe(name)
    dynamic = recipe.binarize == "dynamic"
    x_train = load_mnist("train", binarize=None if dynamic else "static")[0][: recipe.n_train]
    x_test = load_mnist("test", binarize=recipe.binarize, seed=0)[0]
    set_seed(0)
    model = MODELS[recipe.model](**recipe.config)
    history = fit(model, x_train, x_test, epochs=recipe.epochs, seed=0, binarize="dynamic" if dynamic else None,
                  progress=progress)
    store(name, model, history, folder)
    return model.eval(), history


def load(name: str, folder=None, progress: bool = True):
    """(model, history) for RECIPES[name]: from the cache, or trained now (minutes, once) when it is missing."""
    recipe, folder = _recipe(name), _folder(folder)
    meta_file = folder / f"{name}.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    if meta.get("recipe") == asdict(recipe):
        print(f"loaded {name!r} from {shown(folder)} (trained by {recipe.notebook})")
        return checkpoints.load(folder / f"{name}.pt"), meta["history"]
    print(f"{name!r} is not in {shown(folder)} yet: training it as {recipe.notebook} does")
    return train(name, folder, progress)
