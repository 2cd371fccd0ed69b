"""The training core: `train_epoch` is the loop (batches, loss, backward, Adam step); `fit` adds the bookkeeping.

The data stays one tensor on the model's device and batches come by indexing: no DataLoader, no per-sample Python.
"""
import copy
import math
import time

import torch
from tqdm.auto import tqdm

from .checkpoints import config_dict
from .digests import optimizer_record, tensor_digest, weights_digest
from .losses import check_bernoulli_targets, elbo
from .utils import evaluating, set_seed

HISTORY_KEYS = ("epoch", "train_neg_elbo", "train_recon", "train_kl", "test_neg_elbo", "test_recon", "test_kl",
                "val_neg_elbo", "seconds", "run", "interrupted", "stopped_early", "best_epoch")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the term and the step, `terms` holds the batch's terms."""

    def __init__(self, message: str, terms=None):
        super().__init__(message)
        self.terms = terms


def check_data(model, x, name: str) -> torch.Tensor:
    """Raise a clear error unless x holds images (N, 1, 28, 28) the model can score; return x in the model's dtype.

    float64 (what torch.from_numpy gives) and 0/1 integer or bool pixels are converted; 0..255 integers are not
    (divide by 255 first).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(x).__name__}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): pass at least one image")
    model._check_x(x[:1])
    dtype = next(model.parameters()).dtype
    if not x.is_floating_point():
        if x.dtype != torch.bool and x.max() > 1:
            raise ValueError(f"{name} holds integer pixels up to {x.max().item()} ({x.dtype}); the models take grey "
                             f"levels in [0, 1]: pass {name}.float() / 255")
        x = x.to(dtype)                                  # 0/1 pixels (uint8 or bool): the same values as floats
    elif x.dtype != dtype:
        x = x.to(dtype)                                  # e.g. float64 from torch.from_numpy -> the model's float32
    if model.config.likelihood == "bernoulli":
        check_bernoulli_targets(x)
    elif not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite pixels")
    return x


def check_labels(y, x, name: str) -> torch.Tensor:
    """Raise a clear error unless y holds one label (or one-hot row) per image of x; return y."""
    if x is None:
        raise ValueError(f"{name} labels images that were not given: pass the images too, or drop {name}")
    if not isinstance(y, torch.Tensor) or len(y) != len(x):
        got = f"{len(y)} labels" if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"{name} must be a tensor with one label per image ({len(x)}), got {got}")
    return y


def _batches(y, batch_size: int, n: int):
    """y.split(batch_size), or None for each of the n images' batches when there are no labels."""
    return y.split(batch_size) if y is not None else [None] * math.ceil(n / batch_size)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, batch_size: int = 1000, y: torch.Tensor | None = None) -> dict:
    """Mean per-image negative ELBO, reconstruction and KL terms (nats) of `model` on `x`, in eval mode.

    y: the labels of a conditional VAE (notebook 12), one per image, passed on as elbo(model, x, y=labels).
    """
    x = check_data(model, x, "x")
    y = None if y is None else check_labels(y, x, "y")
    device = next(model.parameters()).device
    sums = torch.zeros(2)
    with evaluating(model):
        for xb, yb in zip(x.split(batch_size), _batches(y, batch_size, len(x))):
            labels = {} if yb is None else {"y": yb.to(device)}
            terms = elbo(model, xb.to(device), check_x=False, **labels)  # x was checked whole above
            sums += torch.stack([terms.recon.sum(), terms.kl.sum()]).cpu()
    recon, kl = (sums / len(x)).tolist()
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}


def train_epoch(model, x, optimizer, batch_size=128, beta=1.0, binarize=None, loss_fn=elbo, generator=None,
                on_step=None, y=None):
    """One pass over x (N, 1, 28, 28) in random batches: loss, backward, optimizer step. Returns the mean
    reconstruction and KL terms over the epoch (nats per image). Puts the model in train mode.

    on_step(loss), if given, runs after every step (fit uses it for its progress bar and step callbacks).
    y: labels for a conditional VAE (notebook 12); each batch's labels, taken with the same indices as its
    images, reach the loss as loss_fn(model, xb, beta, check_x=False, y=yb).
    Taught in notebooks/04_mlp_vae.ipynb, which writes the training step out and checks it against this loop.
    """
    model.train()
    sums = torch.zeros(2, device=x.device)
    for idx in torch.randperm(len(x), generator=generator).split(batch_size):
        xb = x.index_select(0, idx.to(x.device))        # (B, 1, 28, 28), faster than x[idx]
        if binarize == "dynamic":
            xb = torch.bernoulli(xb)                    # fresh binary pixels, p = grey level
        labels = {} if y is None else {"y": y.index_select(0, idx.to(y.device))}  # a conditional VAE's labels
        terms = loss_fn(model, xb, beta, check_x=False, **labels)  # per-image loss, recon, kl (B,) each
        loss = terms.loss.mean()                        # mean over the batch of per-image sums
        if not torch.isfinite(loss):                    # stop before a NaN reaches the weights
            raise TrainingDiverged(f"the loss became {loss.item()}", terms)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sums += torch.stack([terms.recon.detach().sum(), terms.kl.detach().sum()])
        if on_step is not None:
            on_step(loss)
    recon, kl = (sums / len(x)).tolist()
    return recon, kl


def _check_number(value, name: str, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def _check_arguments(model, epochs, batch_size, lr, beta, binarize, val_x, test_x, patience) -> None:
    if binarize not in (None, "dynamic"):
        raise ValueError(f"fit's binarize is None or 'dynamic' (fresh draws every batch; rounding or one fixed draw happen in load_mnist(binarize='round' or 'sample')), "
                         f"got {binarize!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1 (e.g. batch_size=128), got {batch_size!r}")
    _check_number(lr, "lr", 0.0, strict=True)
    _check_number(beta, "beta", 0.0)
    if patience is not None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1 (epochs without improvement), got {patience!r}")
        if val_x is None:
            raise ValueError("patience needs val_x: images held out from the training set (never the test set) "
                             "on which early stopping measures the negative ELBO")
    if val_x is not None and val_x is test_x:
        raise ValueError("val_x must be held out from the training images, not the test set: early stopping on "
                         "test_x would make the test score optimistic")
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise ValueError(f"The model's weights are not finite ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}): it diverged in an "
                         f"earlier run or was edited. Rebuild it (e.g. model = {type(model).__name__}(...)) and "
                         f"train again.")


def _diverged_message(terms, epoch: int, step: int, lr: float, restored: bool) -> str:
    bad = [name for name in ("recon", "kl") if not torch.isfinite(getattr(terms, name)).all()]
    what = f"the {' and '.join(bad)} term{'s' if len(bad) > 1 else ''}" if bad else "the loss"
    kept = ("fit restored the weights from the start of that epoch (finite), so the model is usable"
            if restored else "the model holds the weights of the last step")
    return (f"The loss became {terms.loss.sum().item()} at epoch {epoch}, step {step}: {what} blew up; {kept}. "
            f"The data, beta and the starting weights were finite, so the step size is the likely cause: try a "
            f"smaller learning rate (lr={lr:g} now), or clamp logvar in the encoder.")


def adam(model, lr: float = 1e-3) -> torch.optim.Adam:
    """torch.optim.Adam over the model's parameters, with its public fused=True implementation (one kernel for all
    parameters, the same update; about 10% of an epoch saved on a CPU, benchmarks/train_speed.py) where the device
    has one."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters())
    return torch.optim.Adam(model.parameters(), lr=lr, fused=fused)


def _state(model) -> dict:
    return copy.deepcopy(model.state_dict())


def fit(model, train_x, test_x=None, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, beta: float = 1.0,
        seed: int | None = None, binarize: str | None = None, progress: bool = True, callback=None,
        loss_fn=elbo, val_x=None, patience: int | None = None, optimizer=None, train_y=None, test_y=None,
        val_y=None) -> dict:
    """Train `model` with torch.optim.Adam on the negative beta-ELBO, `epochs` times `train_epoch`; return the history.

    history[key] is a list over epochs for "epoch", "train_neg_elbo", "train_recon", "train_kl" (nats per image,
    means over the epoch's batches; the negative ELBO is recon + kl whatever beta is), "test_neg_elbo",
    "test_recon", "test_kl" (None when test_x is None), "val_neg_elbo" (None when val_x is None) and "seconds"
    (training time, evaluation excluded). history["run"] records what was trained and how (plain values);
    "interrupted", "stopped_early" and "best_epoch" say how it ended.

    seed: seeds Python, NumPy and torch (set_seed) and the batch order, so the reparameterization noise, dynamic
    binarization and batches repeat; it does not re-initialise the model (seed before building it for that).
    seed=None leaves the random state alone.
    binarize="dynamic" draws every training pixel from Bernoulli(grey level) afresh each batch.
    callback(model, epoch, step) runs after each epoch; a callback with an integer attribute `every` (e.g.
    plots.ManifoldRecorder(every=50)) runs every `every` optimizer steps instead. A callback may raise
    KeyboardInterrupt to stop training.
    loss_fn(model, x, beta, check_x) -> ELBOTerms replaces the loss being trained (notebook 10 trains mistakes
    with it); the test and validation columns always use the correct ELBO.
    val_x and patience: early stopping. val_x are images held out from the training set (never the test set);
    after each epoch fit scores them, and when the validation negative ELBO has not improved for `patience`
    epochs it stops (stopped_early=True). With patience set the model ends with the weights of its best
    validation epoch (best_epoch).
    optimizer: a torch.optim optimizer over the model's parameters; None builds adam(model, lr), i.e.
    torch.optim.Adam(model.parameters(), lr=lr, fused=True).
    train_y, test_y, val_y: labels for a conditional VAE (notebooks/12_conditional_vae.ipynb), one per image of
    train_x, test_x, val_x; train_epoch passes each batch's labels to loss_fn as y=, evaluate to elbo.
    Ctrl-C (KeyboardInterrupt) stops cleanly: interrupted=True, the finished epochs stay in the history.
    If the loss becomes NaN or infinite, fit restores the weights from the start of that epoch and raises
    TrainingDiverged. The model is left in eval mode, ready for evaluate, sampling and plots.
    """
    _check_arguments(model, epochs, batch_size, lr, beta, binarize, val_x, test_x, patience)
    train_x = check_data(model, train_x, "train_x")
    test_x = None if test_x is None else check_data(model, test_x, "test_x")
    val_x = None if val_x is None else check_data(model, val_x, "val_x")
    train_y, test_y, val_y = (None if y is None else check_labels(y, x, name) for y, x, name in
                              ((train_y, train_x, "train_y"), (test_y, test_x, "test_y"), (val_y, val_x, "val_y")))
    if seed is not None:
        set_seed(seed)
    device = next(model.parameters()).device
    train_x = train_x.to(device)
    train_y = None if train_y is None else train_y.to(device)
    start_weights = weights_digest(model)                # what the weights went through starts here
    if optimizer is None:
        optimizer = adam(model, lr)
    generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(2**31, ())))
    history = {key: [] for key in HISTORY_KEYS[:9]}
    history.update(run={"model": type(model).__name__, "config": config_dict(model), "epochs": epochs,
                        "n_train": len(train_x), "batch_size": batch_size, "lr": optimizer.param_groups[0]["lr"],
                        "beta": beta, "seed": seed, "binarize": binarize,
                        "loss_fn": getattr(loss_fn, "__name__", repr(loss_fn)),
                        **({"labels": True} if train_y is not None else {}),
                        "optimizer": optimizer_record(optimizer), "start_weights": start_weights,
                        "data": {"train_x": tensor_digest(train_x),
                                 "train_y": None if train_y is None else tensor_digest(train_y)}},
                   interrupted=False, stopped_early=False, best_epoch=None)
    n_batches = math.ceil(len(train_x) / batch_size)
    every = getattr(callback, "every", None)
    bar = tqdm(total=epochs * n_batches, disable=not progress, unit="batch", mininterval=0.5)
    step, epoch, best, best_state = 0, 0, math.inf, None

    def on_step(loss):
        nonlocal step
        step += 1
        bar.update()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.2f}")
        if every and step % every == 0:
            callback(model, epoch, step)

    try:
        for epoch in range(1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}")
            start_state = _state(model)
            start = time.perf_counter()
            try:
                recon, kl = train_epoch(model, train_x, optimizer, batch_size, beta, binarize, loss_fn, generator,
                                        on_step, y=train_y)
            except TrainingDiverged as err:
                model.load_state_dict(start_state)
                raise TrainingDiverged(_diverged_message(err.terms, epoch, step, lr, restored=True)) from None
            seconds = time.perf_counter() - start
            test = (evaluate(model, test_x, y=test_y) if test_x is not None
                    else dict.fromkeys(("neg_elbo", "recon", "kl")))
            val = evaluate(model, val_x, y=val_y)["neg_elbo"] if val_x is not None else None
            for key, value in zip(HISTORY_KEYS, (epoch, recon + kl, recon, kl, test["neg_elbo"], test["recon"],
                                                 test["kl"], val, seconds)):
                history[key].append(value)
            shown = {"train": recon + kl, "val": val, "test": test["neg_elbo"]}
            bar.set_postfix({k: f"{v:.2f}" for k, v in shown.items() if v is not None})
            if callback is not None and not every:
                callback(model, epoch, step)
            if patience is not None:
                if val < best:
                    best, best_state, history["best_epoch"] = val, _state(model), epoch
                elif epoch - history["best_epoch"] >= patience:
                    history["stopped_early"] = True
                    break
    except KeyboardInterrupt:
        history["interrupted"] = True
        kept = "its best validation epoch" if best_state is not None else "the last step taken"
        print(f"Interrupted: returning the history of the {len(history['epoch'])} finished epoch(s); the model "
              f"holds the weights of {kept}.")
    finally:
        bar.close()
        model.eval()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["run"]["end_weights"] = weights_digest(model)
    model.provenance = copy.deepcopy(history["run"])     # checkpoints.save writes it beside the weights
    if progress and history["epoch"]:
        test = history["test_neg_elbo"][-1]
        print(f"{len(history['epoch'])} epochs in {sum(history['seconds']):.1f} s; negative ELBO: "
              f"train {history['train_neg_elbo'][-1]:.2f}" + (f", test {test:.2f}" if test is not None else "")
              + " nats per image")
        if history["stopped_early"]:
            print(f"Stopped early: no better validation negative ELBO for {patience} epochs; restored the weights "
                  f"of epoch {history['best_epoch']} (validation {best:.2f}).")
    return history
