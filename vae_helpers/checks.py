"""Input checks shared by training, evaluation and the diagnostics: every error names the argument it is about."""
import numbers

import torch


def shape_hint(shape: tuple, name: str = "x") -> str:
    """How to turn a tensor of `shape` into (N, 1, 28, 28) images, or what is wrong with it."""
    if len(shape) == 2 and shape[1] == 784:
        return f"flat images; reshape them with {name}.view(-1, 1, 28, 28)"
    if len(shape) == 3 and shape[1:] == (28, 28):
        return f"add the channel dimension with {name}.unsqueeze(1)"
    if len(shape) == 4 and shape[1:] == (28, 28, 1):
        return f"channels last; move them with {name}.permute(0, 3, 1, 2)"
    if len(shape) == 4 and shape[2:] == (28, 28) and shape[1] != 1:
        return (f"{shape[1]} channels per image; the models take one grey channel (e.g. {name}.mean(1, "
                "keepdim=True) for colour images), not a reshape, which would mix the channels into new images")
    if len(shape) == 2 and shape[1] != 784:
        return f"rows of {shape[1]} values; an image is 784 = 28 x 28 pixels"
    return "the models take 28 x 28 grey images, one channel, as load_mnist returns them"


def check_bernoulli_targets(x: torch.Tensor, name: str = "x") -> None:
    """Raise if `x` has pixels outside [0, 1], which a Bernoulli likelihood cannot score (or none at all)."""
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): pass at least one image")
    lo, hi = torch.aminmax(x.detach())
    if lo < 0 or hi > 1 or torch.isnan(lo) or torch.isnan(hi):
        raise ValueError(
            f"A Bernoulli likelihood needs pixels in [0, 1], but {name} ranges over [{lo.item():.4g}, {hi.item():.4g}]. "
            "Scale images to [0, 1] (divide uint8 by 255; undo any Normalize transform) "
            "or use a Gaussian likelihood for unbounded data.")


def check_data(model, x, name: str) -> torch.Tensor:
    """Raise a clear error unless x holds images (N, 1, 28, 28) the model can score; return x in the model's dtype.

    float64 (what torch.from_numpy gives) and 0/1 integer or bool pixels are converted; 0..255 integers are not
    (divide by 255 first).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name} must hold images of shape (N, 1, 28, 28), got {tuple(x.shape)}: "
                         f"{shape_hint(tuple(x.shape), name)}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): pass at least one image")
    dtype = next(model.parameters()).dtype
    likelihood = getattr(getattr(model, "config", None), "likelihood", "bernoulli")
    if not x.is_floating_point():
        if x.dtype != torch.bool and x.max() > 1:
            raise ValueError(f"{name} holds integer pixels up to {x.max().item()} ({x.dtype}); the models take grey "
                             f"levels in [0, 1]: pass {name}.float() / 255")
        x = x.to(dtype)                                  # 0/1 pixels (uint8 or bool): the same values as floats
    elif x.dtype != dtype:
        x = x.to(dtype)                                  # e.g. float64 from torch.from_numpy -> the model's float32
    if likelihood == "bernoulli":
        check_bernoulli_targets(x, name)
    elif not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite pixels")
    return x


def check_count(value, name: str, example: str | None, minimum: int = 1) -> None:
    """An integer count (epochs, batch_size, n_pseudo, ...) of at least `minimum`, else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{f' (e.g. {example})' if example else ''}, got {value!r}")
