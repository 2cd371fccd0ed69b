"""The course's trained models, kept on disk: notebooks 04 and 06 train them, later notebooks load them.

A later notebook opened first trains the model itself with the same recipe, so every notebook runs on its own.
The cache is $VAE_ZOO_CACHE, else ~/.cache/vae_helpers/models (a smoke/ subfolder under CI); delete it to retrain.

An entry is `<name>.json` (the recipe, the history of the training that really ran, and the name and SHA-256 of the
weights file) beside `<name>-<hash>.pt`, both written atomically, the JSON last. `store` accepts only a model whose
provenance is the recipe's: fit's record shows one uninterrupted run of the recipe's epochs that started from the
recipe's seeded initial weights, with torch.optim.Adam at the recipe's settings, on the recipe's images (their
digest), and ended with the weights given. A fit cell run twice, another optimizer, grey or other images, or other
starting weights are refused, saying what differs. `load` uses an entry only when the JSON, the weights' SHA-256
and that record all match the recipe, and otherwise says why and trains the model again. A complete cache in a
read-only folder is used as it is; one that needs training says so before training.
"""
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import cachefiles, checkpoints, priors  # priors registers VampVAE in models.MODELS
from .collapse import loss_named
from .data import load_mnist
from .digests import optimizer_record, tensor_digest, weights_digest
from .models import MODELS
from .train import fit
from .utils import cache_dir, is_smoke_test, preserved_random_state, set_seed, shown

FORMAT = "vae_helpers.zoo/3"                     # /3: the history records what the weights went through
ENV_VAR = "VAE_ZOO_CACHE"


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is trained: the same calls as the notebook that teaches it."""

    model: str                                   # a class in vae_helpers.models.MODELS
    config: dict = field(default_factory=dict)   # its keyword arguments
    notebook: str = ""                           # where it is trained in full view
    epochs: int = 10                             # smoke mode: 2
    n_train: int = 60_000                        # smoke mode: 2,000
    binarize: str = "round"                      # or "dynamic": grey images, fresh binary pixels every batch
    seed: int = 0
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    labels: bool = False                         # a conditional VAE: fit gets train_y= and test_y=
    loss: str = "elbo"                           # fit's loss_fn, by the name fit records (collapse.loss_named)


RECIPES = {
    "mlp": Recipe("MLPVAE", {"latent_dim": 20, "hidden": [400]}, "notebooks/04_mlp_vae.ipynb"),
    "conv": Recipe("ConvVAE", {"latent_dim": 20, "channels": [16, 32]}, "notebooks/06_conv_vae.ipynb"),
    "mlp_dynamic": Recipe("MLPVAE", {"latent_dim": 20, "hidden": [400]}, "notebooks/04_mlp_vae.ipynb",
                          epochs=5, binarize="dynamic"),
    "cvae": Recipe("ConditionalVAE", {"latent_dim": 2, "hidden": [400], "n_classes": 10},
                   "notebooks/12_conditional_vae.ipynb", labels=True),
    # Burda et al. (2016)'s one-stochastic-layer VAE: 2 x 200 tanh, 50-D, dynamic binarization (as long as 09 affords)
    "mlp_burda": Recipe("MLPVAE", {"latent_dim": 50, "hidden": [200, 200], "activation": "tanh"},
                        "notebooks/09_log_likelihood.ipynb", epochs=50, binarize="dynamic"),
}
# Notebook 14: 05's 2-D model; the VampPrior VAE in the "mlp" recipe's budget; a collapsed model (beta = 50, short)
RECIPES.update({
    "mlp_2d": Recipe("MLPVAE", {"latent_dim": 2, "hidden": [400, 150]}, "notebooks/05_latent_space.ipynb"),
    "vamp": Recipe("VampVAE", {"latent_dim": 20, "hidden": [400], "n_pseudo": 500}, "notebooks/14_learned_prior.ipynb"),
    "collapsed": Recipe("MLPVAE", {"latent_dim": 20, "hidden": [400]}, "notebooks/14_learned_prior.ipynb",
                        epochs=2, n_train=10_000, beta=50.0),
})
# Notebook 11: the 50-D MLP VAE trained with plain ELBO and with each posterior-collapse fix, three seeds each.
# The loss names are the ones fit records; the warm-up lasts the first half of the full recipe's steps (in smoke
# mode, 2 epochs on 2,000 images, it never ends).
COLLAPSE_EPOCHS, COLLAPSE_N_TRAIN = 10, 20_000
COLLAPSE_LOSSES = {"plain": "elbo", "warmup": f"kl_warmup_{COLLAPSE_EPOCHS * -(-COLLAPSE_N_TRAIN // 128) // 2}",
                   "freebits": "free_bits_0.25", "iwae": "iwae_5"}
RECIPES.update({f"collapse_{method}_s{seed}": Recipe(
    "MLPVAE", {"latent_dim": 50, "hidden": [400]}, "notebooks/11_posterior_collapse.ipynb",
    epochs=COLLAPSE_EPOCHS, n_train=COLLAPSE_N_TRAIN, seed=seed, lr=3e-3, loss=loss)
    for method, loss in COLLAPSE_LOSSES.items() for seed in range(3)})


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"no zoo model called {name!r}; known: {sorted(RECIPES)}")
    recipe = RECIPES[name]
    return replace(recipe, epochs=min(recipe.epochs, 2), n_train=2_000) if is_smoke_test() else recipe


def _folder(folder) -> Path:
    return cache_dir("models", ENV_VAR) if folder is None else Path(folder).expanduser()


def _fit_binarize(recipe: Recipe):
    """fit's binarize argument for the recipe: rounded pixels are binarized by load_mnist, before fit."""
    return "dynamic" if recipe.binarize == "dynamic" else None


def _data(recipe: Recipe, binarize: str | None = "recipe"):
    """The recipe's training images and labels, loaded as its notebook loads them (or with another binarization)."""
    if binarize == "recipe":
        binarize = None if recipe.binarize == "dynamic" else "round"
    x_train, y_train = load_mnist("train", binarize=binarize)
    return x_train[: recipe.n_train], y_train[: recipe.n_train]


_EXPECTED: dict[str, dict] = {}


def expected_run(recipe: Recipe) -> dict:
    """What fit records when it trains `recipe`: the digests of the recipe's seeded initial weights
    (set_seed(seed); Model(**config)) and of its training images (and labels), and its optimizer's settings."""
    key = json.dumps(asdict(recipe), sort_keys=True)
    if key not in _EXPECTED:
        with preserved_random_state():
            set_seed(recipe.seed)
            model = MODELS[recipe.model](**recipe.config)
        x, y = _data(recipe)
        _EXPECTED[key] = {"start_weights": weights_digest(model),
                          "optimizer": optimizer_record(torch.optim.Adam(model.parameters(), lr=recipe.lr)),
                          "data": {"train_x": tensor_digest(x), "train_y": tensor_digest(y) if recipe.labels else None}}
    return _EXPECTED[key]


def _images_difference(recipe: Recipe, digest) -> str:
    """Which images a run trained on, when they are not the recipe's."""
    wanted = "grey" if recipe.binarize == "dynamic" else "rounded"
    variants = {"grey images (load_mnist(binarize=None))": None, "rounded images (binarize='round')": "round",
                "one random draw of the images (binarize='sample')": "sample"}
    for name, how in variants.items():
        if tensor_digest(_data(recipe, how)[0]) == digest:
            return (f"trained on {name}, the recipe on the first {recipe.n_train:,} {wanted} training images"
                    + (" with fit(binarize='dynamic')" if recipe.binarize == "dynamic" else ""))
    return (f"trained on other images than the recipe's (the first {recipe.n_train:,} {wanted} training images of "
            "load_mnist('train'); their digest differs)")


def _provenance_problems(recipe: Recipe, run: dict, model) -> list[str]:
    """How what the weights went through (fit's record in history["run"]) differs from the recipe."""
    missing = [key for key in ("optimizer", "start_weights", "data", "end_weights") if key not in run]
    if missing:
        return [f"the history does not record what the weights went through ({', '.join(missing)} missing: "
                "written by an older vae_helpers, or edited); train the model again with fit"]
    expected, problems = expected_run(recipe), []
    opt = run["optimizer"] if isinstance(run["optimizer"], dict) else {}
    if opt.get("class") != expected["optimizer"]["class"]:
        problems.append(f"trained with the optimizer {opt.get('class')}, the recipe with torch.optim.Adam")
    else:
        diffs = [f"{k}={opt.get(k)!r} (the recipe's {v!r})" for k, v in expected["optimizer"].items()
                 if k not in ("class", "lr") and opt.get(k) != v]
        if diffs:
            problems.append("the optimizer's settings differ from the recipe's Adam: " + ", ".join(diffs))
    if run["start_weights"] != expected["start_weights"]:
        problems.append(f"training started from other weights than the recipe's (set_seed({recipe.seed}) then "
                        f"{recipe.model}(**{recipe.config})): the model had been trained before (a fit cell run "
                        "twice?), edited, or built after other random draws; rebuild it and train once")
    data = run["data"] if isinstance(run["data"], dict) else {}
    if data.get("train_x") != expected["data"]["train_x"]:
        problems.append(_images_difference(recipe, data.get("train_x")))
    if data.get("train_y") != expected["data"]["train_y"] and recipe.labels and run.get("labels"):
        problems.append(f"trained with other labels than the first {recipe.n_train:,} training labels")
    if model is not None and run["end_weights"] != weights_digest(model):
        problems.append("the model's weights are not the ones this history's run ended with: it was trained again "
                        "or changed after that fit (pass the model and the history of one fit)")
    return problems


def training_problems(recipe: Recipe, history, model=None) -> list[str]:
    """How the training recorded in `history` (fit's return value) differs from the recipe's; [] when it does not.

    model: the model the history belongs to; its weights must be the ones the recorded run ended with.
    """
    if not isinstance(history, dict) or not isinstance(history.get("run"), dict):
        return ["the history has no 'run' record of its training (pass the dict that fit returned, unchanged)"]
    run, done = history["run"], len(history.get("epoch") or [])
    problems = []
    if history.get("interrupted"):
        problems.append(f"its training was interrupted (Ctrl-C) after {done} epoch(s)")
    if history.get("stopped_early"):
        problems.append(f"its training stopped early (patience ran out; weights of epoch {history.get('best_epoch')})")
    if done != recipe.epochs:
        problems.append(f"{done} epoch(s) completed, the recipe trains {recipe.epochs}")
    elif run.get("epochs", done) != recipe.epochs:
        problems.append(f"fit was asked for {run.get('epochs')} epochs, the recipe trains {recipe.epochs}")
    if run.get("n_train") != recipe.n_train:
        got = run.get("n_train")
        problems.append(f"trained on {got:,} images, the recipe uses {recipe.n_train:,}" if isinstance(got, int)
                        else f"the run does not say how many images it used (n_train={got!r})")
    if run.get("binarize", "missing") != _fit_binarize(recipe):
        problems.append(f"trained with fit(binarize={run.get('binarize', 'missing')!r}), the recipe's "
                        f"{recipe.binarize} binarization uses binarize={_fit_binarize(recipe)!r}")
    if run.get("seed", "missing") != recipe.seed:
        problems.append(f"seed={run.get('seed', 'missing')!r}, the recipe uses seed={recipe.seed}")
    for key in ("batch_size", "lr", "beta"):                      # checked when the run records them
        if key in run and run[key] != getattr(recipe, key):
            problems.append(f"{key}={run[key]!r}, the recipe uses {key}={getattr(recipe, key)!r}")
    if run.get("loss_fn", "elbo") != recipe.loss:
        problems.append(f"trained on loss_fn={run['loss_fn']}, the recipe trains on {recipe.loss}")
    if run.get("labels", False) != recipe.labels:
        problems.append(f"trained {'with' if run.get('labels') else 'without'} labels (train_y=), the recipe "
                        f"{'with' if recipe.labels else 'without'}")
    if run.get("model", recipe.model) != recipe.model:
        problems.append(f"the run trained a {run['model']}, the recipe a {recipe.model}")
    return problems + _provenance_problems(recipe, run, model)


def _model_problem(name: str, recipe: Recipe, model) -> str | None:
    config = checkpoints.config_dict(model)
    if type(model).__name__ != recipe.model or any(config.get(k) != v for k, v in recipe.config.items()):
        return (f"{name!r} must be a {recipe.model}({recipe.config}), got {type(model).__name__} {config}; "
                "store it under another name or change RECIPES.")
    return None


def store(name: str, model, history: dict, folder=None) -> Path:
    """Save a model trained with RECIPES[name], with the history fit returned, for later notebooks.

    Refused (ValueError, saying what differs) unless the model's provenance is the recipe's: one uninterrupted
    run of as many epochs, from the recipe's seeded initial weights, with Adam at the recipe's settings, on the
    recipe's images and binarization, with the same seed, not stopped early, and ending with these weights.
    """
    recipe, folder = _recipe(name), _folder(folder)
    problem = _model_problem(name, recipe, model)
    if problem:
        raise ValueError(problem)
    problems = training_problems(recipe, history, model)
    if problems:
        raise ValueError(
            f"zoo.store({name!r}) refuses this model: what its weights went through is not the training of the recipe "
            f"({recipe.epochs} epochs on {recipe.n_train:,} images, {recipe.binarize} binarization, seed "
            f"{recipe.seed}, as {recipe.notebook} trains it): " + "; ".join(problems) + ". Later notebooks load "
            f"{name!r} from the zoo, so only that training may go there; keep your own model with "
            "vae_helpers.checkpoints.save(model, path) instead.")
    cachefiles.require_writable(folder, ENV_VAR, f"{name!r}")
    run = history["run"]
    trained = {"model": type(model).__name__, "config": checkpoints.config_dict(model),
               "epochs_completed": len(history["epoch"]), "n_train": run.get("n_train"),
               "binarize": recipe.binarize, "seed": run.get("seed"), "interrupted": bool(history.get("interrupted")),
               "stopped_early": bool(history.get("stopped_early")), "start_weights": run["start_weights"],
               "end_weights": run["end_weights"], "optimizer": run["optimizer"], "data": run["data"]}
    cachefiles.write_entry(folder, name, checkpoints.contents(model, history),
                           {"format": FORMAT, "recipe": asdict(recipe), "trained": trained, "history": history})
    return folder / f"{name}.json"


def train(name: str, folder=None, progress: bool = True):
    """Train RECIPES[name] exactly as its notebook does, store it, and return (model, history).

    Ctrl-C stops it: nothing is stored, the cache stays as it was, and KeyboardInterrupt is raised again.
    The caller's random state (Python, NumPy, torch) is left as it was, so a notebook draws the same numbers
    after it whether its model was loaded or trained.
    """
    with preserved_random_state():
        return _train(name, folder, progress)


def _train(name: str, folder, progress: bool):
    recipe, folder = _recipe(name), _folder(folder)
    cachefiles.require_writable(folder, ENV_VAR, f"the trained {name!r}")      # before minutes of training
    dynamic = recipe.binarize == "dynamic"
    x_train, y_train = _data(recipe)
    x_test, y_test = load_mnist("test", binarize="sample" if dynamic else "round", seed=0)  # one fixed draw
    labels = {"train_y": y_train, "test_y": y_test} if recipe.labels else {}
    set_seed(recipe.seed)
    model = MODELS[recipe.model](**recipe.config)
    history = fit(model, x_train, x_test, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                  beta=recipe.beta, seed=recipe.seed, binarize=_fit_binarize(recipe), progress=progress,
                  loss_fn=loss_named(recipe.loss), **labels)
    if history["interrupted"]:
        print(f"Stopped: {name!r} was not stored ({len(history['epoch'])} of {recipe.epochs} epochs finished); "
              f"the zoo in {shown(folder)} is as it was. Run again to train it.", flush=True)
        raise KeyboardInterrupt(f"zoo.train({name!r}) interrupted")
    store(name, model, history, folder)
    return model.eval(), history


def _check_meta(path: Path, meta: dict) -> None:
    """BrokenEntry naming the file and the field when an entry's JSON has fields of the wrong type."""
    if meta.get("format") != FORMAT:
        return                                           # an older format: reported (and retrained) as such
    if not isinstance(meta.get("recipe"), dict):
        raise cachefiles.BrokenEntry(path, f"its recipe is {meta.get('recipe')!r}, not an object")
    history = meta.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("run"), dict):
        raise cachefiles.BrokenEntry(path, "its history is not an object with a 'run' record")
    for key in ("epoch", "train_neg_elbo", "test_neg_elbo"):
        if not isinstance(history.get(key), list):
            raise cachefiles.BrokenEntry(path, f"its history's {key!r} is {history.get(key)!r}, not a list")
    for key in ("optimizer", "data"):
        if key in history["run"] and not isinstance(history["run"][key], dict):
            raise cachefiles.BrokenEntry(path, f"its run's {key!r} is {history['run'][key]!r}, not an object")


def _entry(name: str, recipe: Recipe, folder: Path):
    """(model, history) of a usable entry, or (None, why it cannot be used)."""
    meta_file = folder / f"{name}.json"
    if not meta_file.exists():
        return None, f"{name!r} is not in {shown(folder)} yet"
    try:
        meta = cachefiles.read_json(meta_file)
        _check_meta(meta_file, meta)
        if meta.get("format") != FORMAT:
            return None, f"{shown(meta_file)} was written by an older vae_helpers, without a record of its training"
        if meta.get("recipe") != asdict(recipe):
            changed = [f"{k} {meta['recipe'].get(k)!r} -> {v!r}" for k, v in asdict(recipe).items()
                       if not isinstance(meta.get("recipe"), dict) or meta["recipe"].get(k) != v]
            return None, f"{shown(meta_file)} was trained with another recipe ({', '.join(changed)})"
        _, weights, data = cachefiles.read_entry(folder, name)
        model = checkpoints.load(weights, data=data)
    except (cachefiles.BrokenEntry, ValueError) as err:
        return None, f"the entry is broken: {err}"
    problem = _model_problem(name, recipe, model)
    if problem is not None:
        return None, f"{shown(weights)} holds another model: {problem}"
    problems = training_problems(recipe, meta.get("history"), model)
    if problems:
        return None, f"{shown(meta_file)} records another training: {'; '.join(problems)}"
    return model, meta["history"]


def load(name: str, folder=None, progress: bool = True):
    """(model, history) for RECIPES[name]: from the cache, or trained now (minutes, once) when it is missing.

    A missing, broken or mismatching entry is reported (with its path and why) and trained again. Either way the
    caller's random state is left as it was (building a model to load weights into draws random numbers too).
    """
    with preserved_random_state():
        return _load(name, folder, progress)


def _load(name: str, folder, progress: bool):
    recipe, folder = _recipe(name), _folder(folder)
    model, why = _entry(name, recipe, folder)
    if model is not None:
        print(f"loaded {name!r} from {shown(folder)} (trained by {recipe.notebook})")
        return model, why
    print(f"{why}: training it as {recipe.notebook} does", flush=True)
    return train(name, folder, progress)
