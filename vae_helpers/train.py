"""The training core: `train_epoch` is the loop (batches, loss, backward, Adam step); `fit` adds the bookkeeping.

The data stays one tensor on the model's device and batches come by indexing: no DataLoader, no per-sample Python.
"""
import copy
import inspect
import math
import numbers
import signal
import threading
import time

import torch
from tqdm.auto import tqdm

from .checkpoints import config_dict
from .digests import optimizer_record, tensor_digest, weights_digest
from .checks import check_count, check_data
from .losses import elbo
from .utils import check_seed, evaluating, set_seed

HISTORY_KEYS = ("epoch", "train_neg_elbo", "train_recon", "train_kl", "test_neg_elbo", "test_recon", "test_kl",
                "val_neg_elbo", "seconds", "run", "interrupted", "stopped_early", "best_epoch")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the term and the step, `terms` holds the batch's terms
    and `history` (from fit) the finished epochs' history, as fit would have returned it."""

    def __init__(self, message: str, terms=None, history=None, batch=None):
        super().__init__(message)
        self.terms, self.history, self.batch = terms, history, batch


def check_labels(y, x, name: str, model=None) -> torch.Tensor:
    """Raise a clear error naming `name` unless y holds one class label (or one-hot row) per image of x, within the
    model's n_classes; return y as int64 labels (uint8, int32 and bool labels are converted) or float rows."""
    images = name[:-1] + "x" if name.endswith("y") else "the images"
    if x is None:
        raise ValueError(f"{name} labels images that were not given: pass {images} too, or drop {name}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor with one label per image of {images} ({len(x)}), got "
                        f"{type(y).__name__}")
    if y.dim() == 0 or len(y) != len(x):
        got = "a single number" if y.dim() == 0 else f"{len(y)} labels"
        raise ValueError(f"{name} must hold one label per image of {images} ({len(x)} images), got {got} "
                         f"(shape {tuple(y.shape)})")
    n_classes = getattr(getattr(model, "config", None), "n_classes", None)
    if y.dim() == 1:
        if y.is_floating_point() or y.is_complex():
            raise ValueError(f"{name} holds {y.dtype} values: class labels are integers, pass {name}.long()")
        y = y.long()                                     # uint8, int32 or bool labels index one_hot as int64
        if n_classes is not None and len(y):
            bad = ((y < 0) | (y >= n_classes)).nonzero()
            if len(bad):
                i = bad[0].item()
                raise ValueError(f"{name}[{i}] = {y[i].item()}: the model has n_classes={n_classes}, so labels lie "
                                 f"in 0..{n_classes - 1} ({len(bad)} label(s) outside)")
        return y
    if y.dim() == 2 and (n_classes is None or y.shape[1] == n_classes):
        return y.float() if not y.is_floating_point() else y     # one-hot (or soft) rows
    raise ValueError(f"{name} must hold one integer label per image (shape ({len(x)},)) or one row of "
                     f"{n_classes or 'K'} per image, got shape {tuple(y.shape)}")


def _takes_labels(model) -> bool:
    return getattr(getattr(model, "config", None), "n_classes", None) is not None


def _batches(y, batch_size: int, n: int):
    """y.split(batch_size), or None for each of the n images' batches when there are no labels."""
    return y.split(batch_size) if y is not None else [None] * math.ceil(n / batch_size)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, batch_size: int = 1000, y: torch.Tensor | None = None) -> dict:
    """Mean per-image negative ELBO, reconstruction and KL terms (nats) of `model` on `x`, in eval mode.

    y: the labels of a conditional VAE (notebook 12), one per image, passed on as elbo(model, x, y=labels).
    """
    x = check_data(model, x, "x")
    _check_label_use(model, {"y": (x, y)})
    y = None if y is None else check_labels(y, x, "y", model)
    device = next(model.parameters()).device
    sums = torch.zeros(2, dtype=_sum_dtype(x.dtype))   # cpu: each batch's sums are moved here (.cpu())
    with evaluating(model):
        for xb, yb in zip(x.split(batch_size), _batches(y, batch_size, len(x))):
            labels = {} if yb is None else {"y": yb.to(device)}
            terms = elbo(model, xb.to(device), check_x=False, **labels)  # x was checked whole above
            sums += torch.stack([terms.recon.to(sums.dtype).sum(), terms.kl.to(sums.dtype).sum()]).cpu()
    recon, kl = (sums / len(x)).tolist()
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}


def train_epoch(model, x, optimizer, batch_size=128, beta=1.0, binarize=None, loss_fn=elbo, generator=None,
                on_step=None, y=None):
    """One pass over x (N, 1, 28, 28) in random batches: loss, backward, optimizer step. Returns the mean
    reconstruction and KL terms over the epoch (nats per image). Puts the model in train mode.

    It checks its input as fit does, before any step: x must be images the model can score (pixels in [0, 1] for a
    Bernoulli decoder; float64 and 0/1 integers are converted), the optimizer must hold the model's trainable
    parameters, and a conditional VAE's labels y must be one valid class per image.
    on_step(loss), if given, runs after every step (fit uses it for its progress bar and step callbacks).
    y: labels for a conditional VAE (notebook 12); each batch's labels, taken with the same indices as its
    images, reach the loss as loss_fn(model, xb, beta, check_x=False, y=yb).
    Taught in notebooks/04_mlp_vae.ipynb, which writes the training step out and checks it against this loop.
    """
    _check_trainable(model, optimizer)
    check_count(batch_size, "batch_size", "batch_size=128")
    beta = _as_number(beta, "beta", 0.0)
    if binarize not in (None, "dynamic"):
        raise ValueError(f"binarize is None or 'dynamic' (fresh draws every batch), got {binarize!r}")
    x = check_data(model, x, "x")
    _check_label_use(model, {"y": (x, y)}, loss_fn)
    y = None if y is None else check_labels(y, x, "y", model)
    device = next(model.parameters()).device
    return _train_epoch(model, x.to(device), optimizer, batch_size, beta, binarize, loss_fn, generator, on_step,
                        None if y is None else y.to(device))


def _sum_dtype(dtype: torch.dtype) -> torch.dtype:
    """Running sums in at least float32: a float16 model's per-image terms summed over an epoch overflow float16."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _train_epoch(model, x, optimizer, batch_size, beta, binarize, loss_fn, generator, on_step, y):
    """train_epoch's loop, on input already checked (fit checks once, not every epoch)."""
    model.train()
    sums = torch.zeros(2, device=x.device, dtype=_sum_dtype(x.dtype))
    # cpu: the batch order comes from fit's CPU generator (the same on every device); idx is moved below
    for idx in torch.randperm(len(x), generator=generator).split(batch_size):
        xb = x.index_select(0, idx.to(x.device))        # (B, 1, 28, 28), faster than x[idx]
        if binarize == "dynamic":
            xb = torch.bernoulli(xb)                    # fresh binary pixels, p = grey level
        labels = {} if y is None else {"y": y.index_select(0, idx.to(y.device))}  # a conditional VAE's labels
        terms = loss_fn(model, xb, beta, check_x=False, **labels)  # per-image loss, recon, kl (B,) each
        loss = terms.loss.mean()                        # mean over the batch of per-image sums
        if not torch.isfinite(loss):                    # stop before a NaN reaches the weights
            raise TrainingDiverged(f"the loss became {loss.item()}", terms, batch=(xb, labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sums += torch.stack([terms.recon.detach().to(sums.dtype).sum(), terms.kl.detach().to(sums.dtype).sum()])
        if on_step is not None:
            on_step(loss)
    recon, kl = (sums / len(x)).tolist()
    return recon, kl


def _as_number(value, name: str, minimum: float, strict: bool = False) -> float:
    """value as a float (Python, NumPy or 0-d tensor numbers), or a ValueError naming `name`."""
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    number = value
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.dtype.is_complex and value.dtype != torch.bool:
        number = value.item()
    if not isinstance(number, numbers.Real) or isinstance(number, bool) or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r} ({type(value).__name__})")
    number = float(number)
    if number < minimum or (strict and number == minimum):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def _check_trainable(model, optimizer) -> None:
    """The model has trainable parameters (not float16) and `optimizer` (when given) holds every one of them."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if any(p.dtype == torch.float16 for _, p in trainable):
        raise ValueError("The model is float16: its updates underflow (Adam's eps=1e-8 is 0 in float16) and an "
                         "epoch's sums overflow, so training it would give NaN or inf. Train in float32 "
                         "(model.float()), or bfloat16 (model.bfloat16()), and convert afterwards; evaluate() and "
                         "sampling work on a float16 model.")
    if not trainable:
        raise ValueError(f"The model has no trainable parameters (requires_grad is False for all "
                         f"{len(list(model.parameters()))}), so training would change nothing: unfreeze some, e.g. "
                         "model.requires_grad_(True)")
    if optimizer is None:
        return
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim optimizer over the model's parameters, e.g. "
                        f"torch.optim.Adam(model.parameters()), got {type(optimizer).__name__}")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [n for n, p in trainable if id(p) not in held]
    if missing:
        raise ValueError(
            f"optimizer does not hold {len(missing)} of the model's {len(trainable)} trainable parameters "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}), so its steps would not train them: it "
            "was built for another model (re-running the model cell but not the optimizer cell does that). Build it "
            "after the model: optimizer = torch.optim.Adam(model.parameters(), lr=...)")


def _check_label_use(model, pairs: dict, loss_fn=None) -> None:
    """A conditional VAE gets labels with every set of images, an unconditional one none (naming the argument)."""
    if _takes_labels(model):
        for name, (x, y) in pairs.items():
            if x is not None and y is None:
                images = name[:-1] + "x" if name.endswith("y") else "the images"
                raise ValueError(f"{name} is missing: a {type(model).__name__} reads the label of every image, so "
                                 f"{images} needs its labels too ({name}=...)")
        if loss_fn is not None and loss_fn is not elbo:
            params = inspect.signature(loss_fn).parameters if callable(loss_fn) else {}
            if "y" not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
                raise ValueError(f"loss_fn={getattr(loss_fn, '__name__', loss_fn)!r} takes no labels (y=), so it "
                                 f"cannot train a {type(model).__name__}; train it on the ELBO (the default) or "
                                 "write a loss_fn(model, x, beta, check_x, y)")
    else:
        given = [name for name, (_, y) in pairs.items() if y is not None]
        if given:
            raise ValueError(f"{given[0]} is given, but a {type(model).__name__} takes no labels: drop {given[0]}, or "
                             "train a ConditionalVAE (notebook 12)")


def _same_images(a, b, a_raw, b_raw) -> bool:
    """Whether two image tensors are the same images: one storage (views of one tensor) or equal values."""
    if a is None or b is None:
        return False
    try:
        if a_raw.untyped_storage().data_ptr() == b_raw.untyped_storage().data_ptr() != 0:
            return True
    except (RuntimeError, NotImplementedError):     # pragma: no cover (tensors without storage)
        pass
    return a.shape == b.shape and a.device.type != "meta" and torch.equal(a, b.to(a.device, a.dtype))


def _check_arguments(model, epochs, batch_size, lr, beta, binarize, val_x, test_x, patience, seed, callback) -> tuple:
    """Check fit's arguments; return lr (or None) and beta as floats."""
    if binarize not in (None, "dynamic"):
        raise ValueError(f"fit's binarize is None or 'dynamic' (fresh draws every batch; rounding or one fixed draw happen in load_mnist(binarize='round' or 'sample')), "
                         f"got {binarize!r}")
    check_count(epochs, "epochs", None, minimum=0)
    check_count(batch_size, "batch_size", "batch_size=128")
    lr = None if lr is None else _as_number(lr, "lr", 0.0, strict=True)
    beta = _as_number(beta, "beta", 0.0)
    check_seed(seed, "seed")
    if patience is not None:
        check_count(patience, "patience", None)
        if val_x is None:
            raise ValueError("patience needs val_x: images held out from the training set (never the test set) "
                             "on which early stopping measures the negative ELBO")
    if callback is not None:
        if not callable(callback):
            raise TypeError(f"callback must be a function callback(model, epoch, step), got {callback!r} "
                            f"({type(callback).__name__})")
        every = getattr(callback, "every", None)
        if every is not None:
            check_count(every, "callback.every", "every=50 optimizer steps")
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise ValueError(f"The model's weights are not finite ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}): it diverged in an "
                         f"earlier run or was edited. Rebuild it (e.g. model = {type(model).__name__}(...)) and "
                         f"train again.")
    return lr, beta


def _diverged_message(err: TrainingDiverged, epoch: int, step: int, steps_taken: int, lr: float,
                      restored_loss: float | None, loss_fn, beta: float) -> str:
    """What fit knows about a divergence: the term, the step (counted from 1), whether any optimizer step came
    before it, whether the restored weights give a finite loss on the failing batch; the lr is blamed only then."""
    terms = err.terms
    bad = [name for name in ("recon", "kl") if not torch.isfinite(getattr(terms, name)).all()]
    what = f"the {' and '.join(bad)} term{'s' if len(bad) > 1 else ''}" if bad else "the loss (not its recon or kl)"
    head = (f"The loss became {terms.loss.float().mean().item()} at epoch {epoch}, step {step} (counted from 1): "
            f"{what} went non-finite, and fit stopped before that step.")
    name = getattr(loss_fn, "__name__", repr(loss_fn))
    if steps_taken == 0:
        return (f"{head} No optimizer step had been taken, so the learning rate is not the cause: the loss is not "
                f"finite at the model's starting weights on this batch. Look at the model (e.g. its obs_logvar or a "
                f"logvar bias), beta={beta:g} and loss_fn={name}; the model holds its starting weights.")
    if restored_loss is None or not math.isfinite(restored_loss):
        return (f"{head} fit restored the weights from the start of epoch {epoch}, but they too give a non-finite "
                f"loss ({restored_loss}) on that batch, so the step size is not the cause and the model is not "
                f"usable as it is: look at the model, beta={beta:g} and loss_fn={name}.")
    return (f"{head} {steps_taken} optimizer step(s) with a finite loss came before it, and the weights fit restored "
            f"(from the start of epoch {epoch}) give a finite loss on that batch ({restored_loss:.2f}), so the model "
            f"is usable and the step size is the likely cause: try a smaller learning rate (lr={lr:g} now), or clamp "
            "logvar in the encoder.")


class _HeldInterrupts:
    """While active, Ctrl-C (SIGINT) is held instead of raising (main thread only); `count` says how many came."""

    def __init__(self):
        self.count, self._old = 0, None

    def _hold(self, signum, frame):
        self.count += 1

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._hold)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def adam(model, lr: float = 1e-3) -> torch.optim.Adam:
    """torch.optim.Adam over the model's parameters, with its public fused=True implementation (one kernel for all
    parameters, the same update; about 10% of an epoch saved on a CPU, benchmarks/train_speed.py) where the device
    has one."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters())
    return torch.optim.Adam(model.parameters(), lr=lr, fused=fused)


def _state(model) -> dict:
    return copy.deepcopy(model.state_dict())


def fit(model, train_x, test_x=None, epochs: int = 10, batch_size: int = 128, lr: float | None = None, beta: float = 1.0,
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
    lr: the learning rate of the Adam that fit builds (None: 1e-3). history["run"]["lr"] is the optimizer's own.
    optimizer: a torch.optim optimizer over the model's trainable parameters (refused when it holds other
    parameters, e.g. one built for a previous model); None builds adam(model, lr), i.e.
    torch.optim.Adam(model.parameters(), lr=lr, fused=True). An lr passed beside it must equal its lr.
    train_y, test_y, val_y: labels for a conditional VAE (notebooks/12_conditional_vae.ipynb), one per image of
    train_x, test_x, val_x, checked (dtype, range, length) before any step; train_epoch passes each batch's labels
    to loss_fn as y=, evaluate to elbo.
    history["run"] also records what the weights went through: digests of the weights fit started from
    ("start_weights") and ended with ("end_weights"), the optimizer's class and settings ("optimizer"), and digests
    of the training images and labels ("data"); fit leaves the same record on the model (model.provenance), which
    checkpoints.save writes beside the weights and the zoo checks against its recipes.
    Ctrl-C (KeyboardInterrupt) stops cleanly: interrupted=True, the finished epochs stay in the history, and the
    model holds the weights of its best validation epoch (with patience) or of the last step taken. A second Ctrl-C
    during that clean-up is held until the weights and mode are restored and the history is built; fit then
    returns the history as for one.
    If the loss becomes NaN or infinite, fit restores the weights from the start of that epoch and raises
    TrainingDiverged, whose message says what it knows (the term, the step, whether any step came before, whether
    the restored weights give a finite loss) and whose `history` holds the finished epochs. The model is left in
    eval mode, ready for evaluate, sampling and plots.
    """
    lr, beta = _check_arguments(model, epochs, batch_size, lr, beta, binarize, val_x, test_x, patience, seed,
                                callback)
    _check_trainable(model, optimizer)
    if optimizer is not None and lr is not None:
        theirs = sorted({float(g["lr"]) for g in optimizer.param_groups})
        if theirs != [lr]:
            raise ValueError(f"lr={lr:g} differs from the optimizer's lr ({', '.join(f'{v:g}' for v in theirs)}): "
                             "fit trains with the optimizer you pass, so drop lr= or build the optimizer with "
                             f"lr={lr:g}")
    raw = {"test_x": test_x, "val_x": val_x}
    train_x = check_data(model, train_x, "train_x")
    test_x = None if test_x is None else check_data(model, test_x, "test_x")
    val_x = None if val_x is None else check_data(model, val_x, "val_x")
    if _same_images(val_x, test_x, raw["val_x"], raw["test_x"]):
        raise ValueError("val_x holds the test images (the same values or the same memory as test_x): val_x must be "
                         "held out from the training images, not the test set, since early stopping on test_x would "
                         "make the test score optimistic")
    pairs = {"train_y": (train_x, train_y), "test_y": (test_x, test_y), "val_y": (val_x, val_y)}
    _check_label_use(model, pairs, loss_fn)
    train_y, test_y, val_y = (None if y is None else check_labels(y, x, name, model)
                              for name, (x, y) in pairs.items())
    if seed is not None:
        set_seed(seed)
    device = next(model.parameters()).device
    train_x = train_x.to(device)
    train_y = None if train_y is None else train_y.to(device)
    start_weights = weights_digest(model)                # what the weights went through starts here
    if optimizer is None:
        optimizer = adam(model, 1e-3 if lr is None else lr)
    generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(2**31, ())))  # cpu: a seed
    history = {key: [] for key in HISTORY_KEYS[:9]}
    history.update(run={"model": type(model).__name__, "config": config_dict(model), "epochs": epochs,
                        "n_train": len(train_x), "batch_size": batch_size,
                        "lr": float(optimizer.param_groups[0]["lr"]), "beta": beta, "seed": seed,
                        "binarize": binarize, "loss_fn": getattr(loss_fn, "__name__", repr(loss_fn)),
                        **({"labels": True} if train_y is not None else {}),
                        "optimizer": optimizer_record(optimizer), "start_weights": start_weights,
                        "data": {"train_x": tensor_digest(train_x),
                                 "train_y": None if train_y is None else tensor_digest(train_y)}},
                   interrupted=False, stopped_early=False, best_epoch=None)
    n_batches = math.ceil(len(train_x) / batch_size)
    every = getattr(callback, "every", None)
    bar = tqdm(total=epochs * n_batches, disable=not progress, unit="batch", mininterval=0.5)
    step, epoch, best, best_state, diverged = 0, 0, math.inf, None, None

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
                recon, kl = _train_epoch(model, train_x, optimizer, batch_size, beta, binarize, loss_fn, generator,
                                         on_step, train_y)
            except TrainingDiverged as err:
                model.load_state_dict(start_state)
                diverged = (err, epoch, step + 1, step)
                break
            seconds = time.perf_counter() - start
            test = (evaluate(model, test_x, y=test_y) if test_x is not None
                    else dict.fromkeys(("neg_elbo", "recon", "kl")))
            val = evaluate(model, val_x, y=val_y)["neg_elbo"] if val_x is not None else None
            for key, value in zip(HISTORY_KEYS, (epoch, recon + kl, recon, kl, test["neg_elbo"], test["recon"],
                                                 test["kl"], val, seconds)):
                history[key].append(value)
            shown = {"train": recon + kl, "val": val, "test": test["neg_elbo"]}
            bar.set_postfix({k: f"{v:.2f}" for k, v in shown.items() if v is not None})
            if patience is not None and val < best:          # snapshot what was validated, before any callback
                best, best_state, history["best_epoch"] = val, _state(model), epoch
            if callback is not None and not every:
                callback(model, epoch, step)
            if patience is not None and epoch - history["best_epoch"] >= patience:
                history["stopped_early"] = True
                break
    except KeyboardInterrupt:
        history["interrupted"] = True
    finally:
        held = _finish(model, history, bar, best_state if diverged is None else None)
    if held:
        print(f"Ctrl-C pressed during fit's clean-up ({held} time(s)) was held until the weights and the mode were "
              "restored and the history built.")
    if history["interrupted"]:
        kept = "its best validation epoch" if best_state is not None else "the last step taken"
        print(f"Interrupted: returning the history of the {len(history['epoch'])} finished epoch(s); the model "
              f"holds the weights of {kept}.")
    if diverged is not None:
        err, epoch, failed_step, taken = diverged
        restored = _restored_loss(model, err, loss_fn, beta)
        raise TrainingDiverged(_diverged_message(err, epoch, failed_step, taken, float(optimizer.param_groups[0]["lr"]),
                                                 restored, loss_fn, beta), err.terms, history) from None
    if progress and history["epoch"]:
        test = history["test_neg_elbo"][-1]
        print(f"{len(history['epoch'])} epochs in {sum(history['seconds']):.1f} s; negative ELBO: "
              f"train {history['train_neg_elbo'][-1]:.2f}" + (f", test {test:.2f}" if test is not None else "")
              + " nats per image")
        if history["stopped_early"]:
            print(f"Stopped early: no better validation negative ELBO for {patience} epochs; restored the weights "
                  f"of epoch {history['best_epoch']} (validation {best:.2f}).")
    return history


def _finish(model, history: dict, bar, best_state) -> int:
    """fit's clean-up, safe against more Ctrl-C: close the bar, restore the best weights (early stopping), eval mode,
    record the final weights. Every step can be repeated, so a KeyboardInterrupt (a second Ctrl-C, or raised by a
    callback or tqdm) restarts it; Ctrl-C is held while it runs. Returns how many interrupts were held."""
    held = 0
    for _ in range(10):
        try:
            with _HeldInterrupts() as hold:
                try:
                    bar.close()
                except KeyboardInterrupt:
                    held += 1                            # raised by the bar itself: the rest still runs
                if best_state is not None:
                    model.load_state_dict(best_state)
                model.eval()
                history["run"]["end_weights"] = weights_digest(model)
                model.provenance = copy.deepcopy(history["run"])   # checkpoints.save writes it beside the weights
            return held + hold.count
        except KeyboardInterrupt:                        # before the handler was in place: do it all again
            held += 1
    raise KeyboardInterrupt("fit's clean-up was interrupted 10 times")  # pragma: no cover


@torch.no_grad()
def _restored_loss(model, err: TrainingDiverged, loss_fn, beta: float) -> float | None:
    """The loss of the restored weights on the batch that diverged (None when it cannot be computed)."""
    if err.batch is None:
        return None
    xb, labels = err.batch
    try:
        with evaluating(model):
            return loss_fn(model, xb, beta, check_x=False, **labels).loss.float().mean().item()
    except Exception:                                    # a loss that fails in eval mode: say nothing
        return None
