"""The training core: the data stays one tensor, batches come by indexing, Adam minimises the negative ELBO."""
import math
import time

import torch
from tqdm.auto import tqdm

from . import backprop
from .losses import check_bernoulli_targets, elbo
from .optim import make_optimizer
from .utils import set_seed

HISTORY_KEYS = ("epoch", "train_neg_elbo", "train_recon", "train_kl", "test_neg_elbo", "test_recon", "test_kl",
                "seconds")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the term and the step."""


def check_data(model, x: torch.Tensor, name: str) -> None:
    """Raise a clear error unless x is a tensor of images (N, 1, 28, 28) the model's likelihood can score."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(x).__name__}")
    model._check_x(x[:1])
    if model.config.likelihood == "bernoulli":
        check_bernoulli_targets(x)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, batch_size: int = 1000) -> dict:
    """Mean per-image negative ELBO, reconstruction and KL terms (nats) of `model` on `x`, in eval mode."""
    check_data(model, x, "x")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(2)
    for xb in x.split(batch_size):
        terms = elbo(model, xb.to(device), check_x=False)  # x was checked whole above
        sums += torch.stack([terms.recon.sum(), terms.kl.sum()]).cpu()
    model.train(was_training)
    recon, kl = (sums / len(x)).tolist()
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}


def _raise_diverged(terms, epoch: int, step: int, lr: float) -> None:
    bad = [name for name in ("recon", "kl") if not torch.isfinite(getattr(terms, name)).all()]
    raise TrainingDiverged(
        f"The loss became {terms.loss.sum().item()} at epoch {epoch}, step {step}: the "
        f"{' and '.join(bad) or 'loss'} term{'s' if len(bad) > 1 else ''} blew up. Try a smaller learning rate "
        f"(lr={lr:g} now), check the inputs for NaNs, or clamp logvar. The model holds the weights of the last step.")


def fit(model, train_x, test_x=None, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, beta: float = 1.0,
        seed: int | None = None, binarize: str | None = None, progress: bool = True, callback=None,
        callback_every: int | None = None, loss_fn=elbo, use_autograd: bool = False) -> dict:
    """Train `model` with Adam on the negative beta-ELBO; return the history, one entry per epoch.

    history[key] is a list over epochs for key in HISTORY_KEYS: train/test negative ELBO, reconstruction and KL
    terms (nats per image; the negative ELBO is recon + kl whatever beta is) and the training seconds.
    binarize="dynamic" draws every training pixel from Bernoulli(grey level) afresh each batch.
    callback(model, epoch, step) runs every `callback_every` steps, or after each epoch when that is None.
    loss_fn(model, x, beta, check_x) -> ELBOTerms replaces the loss being trained (notebook 10 trains mistakes
    with it); the test columns always use the correct ELBO.
    An MLPVAE with a Bernoulli decoder on the plain ELBO gets its gradients from `backprop.HandGradients`:
    autograd's gradients bit for bit, in about 10% less time. use_autograd=True calls loss.backward() instead.
    Ctrl-C (KeyboardInterrupt) stops cleanly: the model and the history of the finished epochs stay usable.
    """
    if binarize not in (None, "dynamic"):
        raise ValueError(f"fit's binarize is None or 'dynamic' (static binarization happens in load_mnist), "
                         f"got {binarize!r}")
    check_data(model, train_x, "train_x")
    if test_x is not None:
        check_data(model, test_x, "test_x")
    if seed is not None:
        set_seed(seed)
    device = next(model.parameters()).device
    train_x = train_x.to(device)
    optimizer = make_optimizer(model, lr)
    hand = None if use_autograd or not backprop.supports(model, loss_fn) else backprop.HandGradients(model, beta)
    generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(2**31, ())))
    n_batches = math.ceil(len(train_x) / batch_size)
    history = {key: [] for key in HISTORY_KEYS}
    bar = tqdm(total=epochs * n_batches, disable=not progress, unit="batch", mininterval=0.5)
    step = 0
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            bar.set_description(f"epoch {epoch}/{epochs}")
            start, sums = time.perf_counter(), torch.zeros(2)
            for idx in torch.randperm(len(train_x), generator=generator).split(batch_size):
                x = train_x.index_select(0, idx.to(device))    # (B, 1, 28, 28), 2x faster than train_x[idx]
                if binarize == "dynamic":
                    x = torch.bernoulli(x)                      # fresh binary pixels, p = grey level
                if hand is not None:
                    terms = hand.forward(x)                     # the same terms as elbo(model, x, beta)
                else:
                    terms = loss_fn(model, x, beta, check_x=False)  # per-sample loss, recon, kl; x checked above
                loss = terms.loss.mean()                        # mean over the batch of per-image sums
                if not torch.isfinite(loss):
                    _raise_diverged(terms, epoch, step, lr)
                if hand is not None:
                    hand.backward()                             # writes every p.grad, as loss.backward() would
                else:
                    optimizer.zero_grad()
                    loss.backward()
                optimizer.step()
                sums += torch.stack([terms.recon.detach().sum(), terms.kl.detach().sum()]).cpu()
                step += 1
                bar.update()
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.2f}")
                if callback is not None and callback_every and step % callback_every == 0:
                    callback(model, epoch, step)
            seconds = time.perf_counter() - start
            recon, kl = (sums / len(train_x)).tolist()
            test = evaluate(model, test_x) if test_x is not None else dict.fromkeys(("neg_elbo", "recon", "kl"))
            for key, value in zip(HISTORY_KEYS, (epoch, recon + kl, recon, kl, test["neg_elbo"], test["recon"],
                                                 test["kl"], seconds)):
                history[key].append(value)
            shown = {"train": recon + kl, "test": test["neg_elbo"]}
            bar.set_postfix({k: f"{v:.2f}" for k, v in shown.items() if v is not None})
            if callback is not None and not callback_every:
                callback(model, epoch, step)
    except KeyboardInterrupt:
        print(f"Interrupted: returning the history of the {len(history['epoch'])} finished epoch(s).")
    finally:
        bar.close()
        model.eval()
    if progress and history["epoch"]:
        test = history["test_neg_elbo"][-1]
        print(f"{len(history['epoch'])} epochs in {sum(history['seconds']):.1f} s; negative ELBO: "
              f"train {history['train_neg_elbo'][-1]:.2f}" + (f", test {test:.2f}" if test is not None else "")
              + " nats per image")
    return history
