"""The beta and latent-size explorer of notebooks/07_beta_and_latent_size.ipynb: a cache of models and a widget.

Build the cache ahead of class with `python -m vae_helpers.explorer build` (or `make explorer-cache`); delete the
folder it prints to start again. `explore()` is the notebook's one-liner: it trains what is missing, then shows the panel.
"""
import asyncio
import hashlib
import html
import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from . import cachefiles, checkpoints
from .data import load_mnist
from .diagnostics import active_units, kl_per_dim
from .models import MLPVAE
from .plots import image_grid, kl_per_dimension
from .train import evaluate, fit
from .utils import cache_dir, is_smoke_test, preserved_random_state, set_seed, shown

BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
LATENT_SIZES = (2, 5, 10, 20, 50)
ENV_VAR = "VAE_EXPLORER_CACHE"


@dataclass
class SweepConfig:
    """What each cached model is: a small MLP VAE trained briefly, so that 35 of them build in minutes.

    Batch 64 at lr 3e-3 with 200 hidden units: for about 15% more build time than batch 128 at lr 1e-3 with 256
    units, the 20-D, beta = 1 model ends about 9.6 nats lower (97.3 against 106.9 on the 10,000 test images, measured
    on one thread), within 10 nats of notebook 04's 10-epoch 784-400-20 model.
    """
    hidden: tuple[int, ...] = (200,)
    epochs: int = 2
    batch_size: int = 64
    lr: float = 3e-3
    n_train: int = 60_000
    n_test: int = 2_000
    seed: int = 0
    betas: tuple[float, ...] = BETAS
    latent_sizes: tuple[int, ...] = LATENT_SIZES

    def __post_init__(self):
        """Refuse what the sweep could not do as recorded (e.g. n_test=20000 with 10,000 test images)."""
        limits = {"n_train": 60_000, "n_test": 10_000, "epochs": None, "batch_size": None}
        for name, most in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (most and value > most):
                bound = f" and at most {most:,} (the images MNIST has)" if most else ""
                raise ValueError(f"SweepConfig.{name} must be an integer >= 1{bound}, got {value!r}")
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not 0 < self.lr < math.inf:
            raise ValueError(f"SweepConfig.lr must be a finite number > 0, got {self.lr!r}")
        if not self.betas or any(not isinstance(b, (int, float)) or isinstance(b, bool) or not 0 <= b < math.inf
                                 for b in self.betas):
            raise ValueError(f"SweepConfig.betas must be finite numbers >= 0, got {self.betas!r}")
        if not self.latent_sizes or any(isinstance(z, bool) or not isinstance(z, int) or z < 1
                                        for z in self.latent_sizes):
            raise ValueError(f"SweepConfig.latent_sizes must be integers >= 1, got {self.latent_sizes!r}")


SMOKE = SweepConfig(epochs=1, n_train=1_000, n_test=500, betas=(0.5, 1.0, 4.0), latent_sizes=(2, 10))


def default_config() -> SweepConfig:
    return SMOKE if is_smoke_test() else SweepConfig()


def default_cache_dir() -> Path:
    """$VAE_EXPLORER_CACHE, else ~/.cache/vae_helpers/explorer (a smoke/ subfolder under CI)."""
    return cache_dir("explorer", ENV_VAR)


def config_key(config: SweepConfig) -> str:
    """A short hash of every field of the sweep's configuration: each configuration has its own cache folder."""
    return hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:12]


def _stem(beta: float, latent_dim: int) -> str:
    """The file name of a setting; repr keeps every digit, so beta = 1.000000001 never overwrites beta = 1."""
    return f"beta{float(beta)!r}_z{int(latent_dim)}"


def _check_summary(path: Path, meta: dict) -> None:
    """BrokenEntry naming the file and the field when a summary's fields have the wrong types."""
    beta, latent_dim = meta.get("beta"), meta.get("latent_dim")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < math.inf:
        raise cachefiles.BrokenEntry(path, f"its beta is {beta!r}, not a finite number >= 0")
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise cachefiles.BrokenEntry(path, f"its latent_dim is {latent_dim!r}, not an integer >= 1")
    for key in ("rate", "distortion"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise cachefiles.BrokenEntry(path, f"its {key} is {value!r}, not a number")
    if not isinstance(meta.get("active_units"), int) or not isinstance(meta.get("kl_per_dim"), list):
        raise cachefiles.BrokenEntry(path, "its active_units or kl_per_dim field is missing or of the wrong type")


class Cache:
    """Trained models and their test-set summaries, one entry per (beta, latent size), in a folder of their own.

    The folder is `<cache_dir>/sweep-<config_key(config)>`: another SweepConfig never sees these models, and its
    config.json describes them. Each entry is `<stem>.json` (the summary, naming the weights file and its SHA-256;
    written last) beside `<stem>-<hash>.pt`. Entries that are truncated or do not match are reported and rebuilt.
    """

    def __init__(self, folder=None, config: SweepConfig | None = None):
        self.config = config or default_config()
        self.root = Path(folder).expanduser() if folder else default_cache_dir()
        self.key = config_key(self.config)
        self.folder = self.root / f"sweep-{self.key}"
        if self.root.name == self.folder.name:              # given the sweep's own folder (cache.folder)
            self.root, self.folder = self.root.parent, self.root
        elif self.root.name.startswith("sweep-"):           # another configuration's folder: never nest in it
            raise ValueError(f"{shown(self.root)} is the folder of another sweep configuration ({self.root.name}, "
                             f"this one is sweep-{self.key}): pass the cache folder above it "
                             f"({shown(self.root.parent)}), or the configuration that folder was built with")
        self._models, self._index, self._reported = {}, {}, set()
        self._scan()
        self._write_config()
        x_train, _ = load_mnist("train", binarize="round")
        x_test, _ = load_mnist("test", binarize="round")
        self.x_train, self.x_test = x_train[: self.config.n_train], x_test[: self.config.n_test]

    def _write_config(self) -> None:
        """Write config.json when it is missing or wrong and the folder can take it (a read-only cache is left)."""
        path, wanted = self.folder / "config.json", asdict(self.config)
        try:
            if cachefiles.read_json(path) == json.loads(json.dumps(wanted)):
                return
            print(f"{shown(path)} does not describe this sweep: rewriting it")
        except cachefiles.BrokenEntry as err:
            if path.exists():
                print(f"explorer cache: {err}; rewriting it")
        if cachefiles.writable(self.folder):
            cachefiles.write_json(path, wanted)

    def _scan(self) -> None:
        """Index the complete entries on disk; report the broken ones, which are then trained again."""
        self._index = {}
        for meta_file in sorted(self.folder.glob("beta*_z*.json")):
            try:
                meta, _, _ = cachefiles.read_entry(self.folder, meta_file.stem)
                _check_summary(meta_file, meta)
                if meta.get("config_key") != self.key or _stem(meta["beta"], meta["latent_dim"]) != meta_file.stem:
                    raise cachefiles.BrokenEntry(meta_file, "it was written for another sweep configuration")
            except cachefiles.BrokenEntry as err:
                if str(err) not in self._reported:                  # once per Cache, not at every scan
                    self._reported.add(str(err))
                    print(f"explorer cache: {err}; this setting will be trained again", flush=True)
                continue
            self._index[(meta["beta"], meta["latent_dim"])] = meta

    def settings(self) -> list[tuple[float, int]]:
        """Every (beta, latent size) with a trained model on disk, grid or not."""
        return sorted(self._index)

    def summary(self, beta: float, latent_dim: int) -> dict:
        return self._index[(beta, latent_dim)]

    def model(self, beta: float, latent_dim: int):
        """The trained model of one setting, loaded once (or trained when its entry is broken); the caller's random
        state is left as it was."""
        key = (beta, latent_dim)
        if key not in self._models:
            with preserved_random_state():
                self._load(beta, latent_dim)
        return self._models[key]

    def _load(self, beta: float, latent_dim: int) -> None:
        try:
            _, weights, data = cachefiles.read_entry(self.folder, _stem(beta, latent_dim))
            model = checkpoints.load(weights, data=data)
            self._check_model(weights, model, beta, latent_dim)
            self._models[(beta, latent_dim)] = model
        except (cachefiles.BrokenEntry, ValueError) as err:
            print(f"explorer cache: {err}; training this setting again", flush=True)
            self.train(beta, latent_dim)

    def _check_model(self, weights: Path, model, beta: float, latent_dim: int) -> None:
        """BrokenEntry unless the loaded model is this setting's: its latent size, hidden layers and (when its
        provenance records it) the beta it was trained with."""
        config = model.config
        if type(model).__name__ != "MLPVAE" or config.latent_dim != latent_dim or \
                tuple(config.hidden) != tuple(self.config.hidden):
            raise cachefiles.BrokenEntry(weights, f"it holds a {type(model).__name__} with latent_dim="
                                         f"{getattr(config, 'latent_dim', None)}, hidden={getattr(config, 'hidden', None)}"
                                         f"; this setting is latent_dim={latent_dim}, hidden={self.config.hidden}")
        run = getattr(model, "provenance", None)
        if isinstance(run, dict) and run.get("beta") != float(beta):
            raise cachefiles.BrokenEntry(weights, f"its weights were trained with beta={run.get('beta')!r}; this "
                                         f"setting is beta={float(beta)!r}")

    def _where(self, what: str) -> None:
        cachefiles.require_writable(self.folder, ENV_VAR, what)

    def train(self, beta: float, latent_dim: int, progress: bool = False) -> dict:
        """Train one setting, save it, and return its summary: rate (KL), distortion (recon), active units.

        Ctrl-C stops it: nothing is stored and KeyboardInterrupt is raised again. The caller's random state is
        left as it was (utils.preserved_random_state), so a notebook draws the same numbers whether it trained
        the sweep or loaded it.
        """
        with preserved_random_state():
            return self._train(beta, latent_dim, progress)

    def _train(self, beta: float, latent_dim: int, progress: bool) -> dict:
        self._where(f"the model for beta = {beta:g}, latent size {latent_dim}")   # before training, not after
        set_seed(self.config.seed)
        model = MLPVAE(latent_dim=latent_dim, hidden=self.config.hidden)
        start = time.perf_counter()
        history = fit(model, self.x_train, epochs=self.config.epochs, batch_size=self.config.batch_size,
                      lr=self.config.lr, beta=beta, seed=self.config.seed,
                      progress=progress)
        if history.get("interrupted", len(history["epoch"]) < self.config.epochs):
            raise KeyboardInterrupt(f"training beta = {beta:g}, latent size {latent_dim} was interrupted")
        test = evaluate(model, self.x_test)
        active, _ = active_units(model, self.x_test)
        summary = {"beta": float(beta), "latent_dim": int(latent_dim), "rate": test["kl"],
                   "distortion": test["recon"], "active_units": int(active.sum()),
                   "kl_per_dim": kl_per_dim(model, self.x_test).tolist(), "seconds": time.perf_counter() - start,
                   "epochs_completed": len(history["epoch"]), "config_key": self.key}
        self._write_config()
        summary = cachefiles.write_entry(self.folder, _stem(beta, latent_dim), checkpoints.contents(model), summary)
        self._index[(summary["beta"], summary["latent_dim"])] = summary
        self._models[(summary["beta"], summary["latent_dim"])] = model.eval()
        return summary

    def missing(self) -> list[tuple[float, int]]:
        """The grid settings with no complete entry on disk."""
        return [(b, z) for z in self.config.latent_sizes for b in self.config.betas if (b, z) not in self._index]

    def build(self, progress: bool = True) -> float:
        """Train every grid setting that is missing; return the seconds it took.

        Ctrl-C stops the build: the models finished before it are kept, the one in training is not stored.
        """
        start = time.perf_counter()
        self._scan()
        todo = self.missing()
        if todo:
            self._where(f"the {len(todo)} missing models")
        for i, (beta, latent_dim) in enumerate(todo, 1):
            try:
                s = self.train(beta, latent_dim)
            except KeyboardInterrupt:
                print(f"Stopped: {i - 1} of {len(todo)} models were trained and kept in {shown(self.folder)}; "
                      f"beta = {beta:g}, latent size {latent_dim} was not stored. Build again to train the "
                      f"{len(todo) - i + 1} missing.", flush=True)
                raise
            if progress:
                print(f"[{i}/{len(todo)}] beta={beta:g}, latent size {latent_dim}: rate {s['rate']:.1f} nats, "
                      f"distortion {s['distortion']:.1f} nats ({s['seconds']:.1f} s)", flush=True)
        return time.perf_counter() - start


def rate_distortion(cache: Cache, ax=None, mark: tuple[float, int] | None = None, label_betas: tuple[int, ...] = (),
                    iso_elbo: bool = True):
    """Distortion (reconstruction, nats) against rate (KL, nats): one curve per latent size, beta along it.

    label_betas: write beta beside the points of these latent sizes. iso_elbo: grey lines of constant D + R (the
    negative ELBO); a beta = 1 model moves toward the lower left across them (Alemi et al. 2018).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    every = [cache.summary(*s) for s in cache.settings()]
    if iso_elbo and every:
        best = min(p["rate"] + p["distortion"] for p in every)
        r_max = max(p["rate"] for p in every) * 1.05
        d_lo, d_hi = min(p["distortion"] for p in every), max(p["distortion"] for p in every)
        for level in [best + 20 * k for k in range(0, 8)]:
            ax.plot([0, r_max], [level, level - r_max], color="0.75", lw=0.8, ls="--", zorder=0)
            if d_lo * 0.9 <= level - 2 <= d_hi:
                ax.annotate(f"D+R={level:.0f}", (1, level - 1), fontsize=6, color="0.5", rotation=-20, va="top")
        ax.set_ylim(d_lo - 8, d_hi + 8)
        ax.set_xlim(0, r_max)
    for z in sorted({z for _, z in cache.settings()}):
        points = [cache.summary(b, z) for b, zz in cache.settings() if zz == z]
        ax.plot([p["rate"] for p in points], [p["distortion"] for p in points], "o-", ms=3, label=f"{z}-D")
        if z in label_betas:
            for p in points:
                ax.annotate(f"β={p['beta']:g}", (p["rate"], p["distortion"]), xytext=(3, 3),
                            textcoords="offset points", fontsize=7, color=ax.lines[-1].get_color())
    if mark is not None:
        s = cache.summary(*mark)
        ax.plot(s["rate"], s["distortion"], "o", ms=14, mfc="none", mec="red", mew=2.5)
    ax.set(xlabel="rate: KL (nats)", ylabel="distortion: reconstruction (nats)", title="rate against distortion")
    ax.legend(title="latent size", fontsize=8)
    return ax.figure


def sweep_images(cache: Cache, kind: str = "samples"):
    """One small mosaic per grid setting (rows: beta, columns: latent size): 4 prior samples or 4 reconstructions."""
    betas, sizes = cache.config.betas, cache.config.latent_sizes
    fig, axes = plt.subplots(len(betas), len(sizes), figsize=(1.9 * len(sizes), 0.62 * len(betas) + 0.4),
                             squeeze=False)
    for i, beta in enumerate(betas):
        for j, z in enumerate(sizes):
            model = cache.model(beta, z)
            images = (model.sample(4, generator=torch.Generator().manual_seed(0)) if kind == "samples"
                      else model.reconstruct(cache.x_test[:4]))
            image_grid(images, nrow=4, ax=axes[i, j])
            axes[i, j].set_title(f"β={beta:g}, {z}-D", fontsize=7, pad=2)
    fig.suptitle("prior samples" if kind == "samples" else "reconstructions of the same four test digits")
    fig.tight_layout()
    return fig


def panel(cache: Cache, beta: float, latent_dim: int):
    """The explorer's figure for one setting: reconstructions, prior samples, KL per dimension, its place on the curve."""
    model, s = cache.model(beta, latent_dim), cache.summary(beta, latent_dim)
    digits = cache.x_test[:8]
    fig = Figure(figsize=(11, 6.2))                      # no pyplot: nothing to close, nothing shown by accident
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [1, 1.4]})
    image_grid(torch.cat([digits, model.reconstruct(digits)]), nrow=8, ax=axes[0, 0],
               title="test digits (top) and reconstructions")
    image_grid(model.sample(16, generator=torch.Generator().manual_seed(0)), nrow=8, ax=axes[0, 1],
               title="samples from the prior")
    stored = torch.tensor(s["kl_per_dim"])                # cpu: a plot of stored numbers
    kl_per_dimension(stored, active_units(model, cache.x_test)[0], ax=axes[1, 0])
    rate_distortion(cache, ax=axes[1, 1], mark=(beta, latent_dim), iso_elbo=False)
    fig.suptitle(f"beta = {beta:g}, latent size {latent_dim}: rate {s['rate']:.1f} nats, "
                 f"distortion {s['distortion']:.1f} nats")
    fig.tight_layout()
    return fig


class Explorer:
    """An ipywidgets panel over a Cache: a beta slider (log-spaced grid), a latent-size selector, a train button."""

    def __init__(self, cache: Cache):
        import ipywidgets as widgets

        self.cache, self._png = cache, {}
        betas = sorted({b for b, _ in cache.settings()} | set(cache.config.betas))
        self.beta = widgets.SelectionSlider(options=[(f"{b:g}", b) for b in betas], value=1.0 if 1.0 in betas
                                            else betas[0], description="β", continuous_update=True)
        self.latent = widgets.ToggleButtons(options=list(cache.config.latent_sizes), description="latent size",
                                            value=cache.config.latent_sizes[-2 if len(cache.config.latent_sizes) > 1 else 0])
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.new_beta = widgets.FloatText(value=3.0, description="β", layout={"width": "160px"})
        self.new_latent = widgets.BoundedIntText(value=8, min=1, max=200, description="size", layout={"width": "160px"})
        self.train_button = widgets.Button(description="train this setting now", icon="play", layout={"width": "210px"})
        self.train_output = widgets.Output()
        for w, css in ((self.beta, "vae-explorer-beta"), (self.image, "vae-explorer-image")):
            w.add_class(css)
        self.beta.observe(self._redraw, "value")
        self.latent.observe(self._redraw, "value")
        self.train_button.on_click(self._train_new)
        self.widget = widgets.VBox([widgets.HBox([self.beta, self.latent]), self.status, self.image,
                                    widgets.HBox([self.new_beta, self.new_latent, self.train_button]),
                                    self.train_output])
        self._redraw()
        self._prerender_when_idle()

    def _prerender_when_idle(self) -> None:
        """Draw the other panels one by one while the kernel is idle, so that a slider move only swaps an image.

        It runs on the kernel's event loop, in the main thread (matplotlib is not thread-safe); outside a kernel
        there is no running loop and each panel is drawn when first shown.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        beta, latent_dim = self.beta.value, self.latent.value          # the likeliest next moves first:
        todo = sorted((s for s in self.cache.settings() if s not in self._png),    # same size, nearest beta
                      key=lambda s: (s[1] != latent_dim, abs(math.log(s[0] / beta))))

        def step():
            if todo:
                self.png(*todo.pop(0))
                loop.call_later(0.01, step)
        loop.call_later(0.2, step)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

    def png(self, beta: float, latent_dim: int) -> bytes:
        """The panel of one setting as PNG bytes, rendered once and then kept."""
        key = (beta, latent_dim)
        if key not in self._png:
            buffer = io.BytesIO()
            panel(self.cache, beta, latent_dim).savefig(buffer, format="png", dpi=72)
            self._png[key] = buffer.getvalue()
        return self._png[key]

    def _redraw(self, _change=None) -> None:
        start = time.perf_counter()
        beta, latent_dim = self.beta.value, self.latent.value
        if (beta, latent_dim) not in self.cache.settings():
            self.status.value = f"<i>β = {beta:g}, latent size {latent_dim} is not trained yet: use the button below.</i>"
            return
        self.image.value = self.png(beta, latent_dim)
        self.status.value = f"<small>redrawn in {time.perf_counter() - start:.2f} s</small>"

    def _train_new(self, _button) -> None:
        beta, latent_dim = float(self.new_beta.value), int(self.new_latent.value)
        if beta <= 0:
            self.status.value = "<b>β must be positive.</b>"
            return
        with self.train_output:            # an Output widget shows and swallows exceptions: catch ours inside
            try:
                self.cache.train(beta, latent_dim, progress=True)
            except KeyboardInterrupt:
                self.status.value = (f"<b>Stopped: β = {beta:g}, latent size {latent_dim} was not stored; the cache "
                                     "is as it was.</b>")
                return
            except cachefiles.NotWritable as err:
                self.status.value = f"<b>{html.escape(str(err))}</b>"
                return
        self._png.clear()  # every panel's rate-distortion plot gains a point
        if latent_dim not in self.latent.options:
            self.latent.options = sorted({*self.latent.options, latent_dim})
        self.beta.options = [(f"{b:g}", b) for b in sorted({o[1] for o in self.beta.options} | {beta})]
        self.beta.value, self.latent.value = beta, latent_dim
        self._redraw()


def explore(cache_dir=None, config: SweepConfig | None = None) -> Explorer:
    """Train the missing settings (first use only), then return the explorer (it displays as its widget)."""
    cache = Cache(cache_dir, config)
    missing = len(cache.missing())
    if missing:
        print(f"training {missing} models into {shown(cache.folder)} (once; delete the folder to start again)")
        cache.build()
    return Explorer(cache)


if __name__ == "__main__":
    if sys.argv[1:2] != ["build"]:
        sys.exit("usage: python -m vae_helpers.explorer build   (trains the explorer's cache; CI=1 for the smoke one)")
    cache = Cache()
    print(f"building the explorer cache in {shown(cache.folder)}")
    try:
        print(f"done in {cache.build():.0f} s")
    except KeyboardInterrupt:
        sys.exit(130)
