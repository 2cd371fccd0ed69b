"""Notebook 12's "draw this digit" widget: pick a digit (buttons 0-9), move three style sliders, see it redrawn.

The style is the latent code z of a conditional VAE; the label y says which digit to draw. With a code of at most
three dimensions the sliders are its coordinates z1, z2, ... (the prior is N(0, 1) in each, so ±3 covers nearly
all of it); a larger code gets three sliders along the principal directions of the test set's codes, in standard
deviations. "Style of" sets the sliders to the code of a test digit. Each redraw is one decoder pass and a PNG drawn
without matplotlib (a few milliseconds).
"""
import io
import time

import numpy as np
import torch
from PIL import Image as PILImage
from torchvision.utils import make_grid

from .conditional import ConditionalVAE, style_directions

N_STYLES = 3      # sliders
N_BORROW = 12     # test digits offered as starting styles


def to_png(images: torch.Tensor, scale: int) -> PILImage.Image:
    """Images (B, 1, 28, 28) in [0, 1] in one row, as plots.image_grid draws them (white frames), scaled up."""
    row = make_grid(images.detach().cpu().clamp(0, 1), nrow=len(images), padding=1, pad_value=1.0)[0]  # (30, 29B+1)
    pixels = (row * 255).round().to(torch.uint8).numpy()
    return PILImage.fromarray(np.kron(pixels, np.ones((scale, scale), dtype=np.uint8)))


class DigitDrawer:
    """An ipywidgets panel over a ConditionalVAE: digit buttons, style sliders, a borrowed style, one image."""

    def __init__(self, model: ConditionalVAE, x_test: torch.Tensor, y_test: torch.Tensor, digit: int = 3):
        import ipywidgets as widgets

        if not isinstance(model, ConditionalVAE):
            raise TypeError(f"DigitDrawer draws with a ConditionalVAE, got {type(model).__name__}")
        self.model = model.eval()
        self.x_test, self.y_test = x_test, y_test
        D = model.config.latent_dim
        if D <= N_STYLES:                                  # the sliders are the coordinates of z
            device = next(model.parameters()).device
            self.mean, self.directions, self.stds = (torch.zeros(D, device=device), torch.eye(D, device=device),
                                                     torch.ones(D, device=device))
            names = [f"z{k + 1}" for k in range(D)]
        else:                                              # (D,), (3, D), (3,): principal directions of the codes
            self.mean, self.directions, self.stds = style_directions(model, x_test, y_test, N_STYLES)
            names = [f"style {k + 1}" for k in range(N_STYLES)]
        self.digit = widgets.ToggleButtons(options=list(range(model.config.n_classes)), value=digit,
                                           description="digit", style={"button_width": "34px"})
        self.sliders = [widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description=name,
                                            continuous_update=True, readout_format=".1f") for name in names]
        self.start = widgets.Dropdown(options=[("the prior's centre (z = 0)" if D <= N_STYLES else "the average",
                                                -1)] + [(f"test digit #{i} (a {int(y_test[i])})", i)
                                                        for i in range(min(N_BORROW, len(x_test)))],
                                      value=-1, description="style of")
        self._holding = False
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.digit.add_class("vae-digit-buttons")
        self.image.add_class("vae-digit-image")
        for w in (self.digit, *self.sliders):
            w.observe(self._redraw, "value")
        self.start.observe(self._borrow, "value")
        self.widget = widgets.VBox([self.digit, widgets.HBox([widgets.VBox(self.sliders), self.start]),
                                    self.image, self.status])
        self._redraw()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

    def z(self) -> torch.Tensor:
        """The code drawn now, from the sliders: mean + sum_k slider_k * std_k * direction_k, shaped (1, D)."""
        values = torch.tensor([s.value for s in self.sliders], device=self.stds.device) * self.stds   # (k,)
        return (self.mean + values @ self.directions)[None]                          # (1, D)

    @torch.no_grad()
    def _borrow(self, _change=None) -> None:
        """Set the sliders to the code mu(x, y) of the chosen test digit (its projection when D > 3), or to 0."""
        i = self.start.value
        if i < 0:
            values = torch.zeros(len(self.sliders), device=self.stds.device)
        else:
            device = self.stds.device
            mu, _ = self.model.encode(self.x_test[i:i + 1].to(device), self.y_test[i:i + 1].to(device))   # (1, D)
            values = ((mu[0] - self.mean) @ self.directions.T) / self.stds          # (k,)
        self._holding = True                                  # one redraw, not one per slider
        for slider, v in zip(self.sliders, values.tolist()):
            slider.value = round(min(max(v, slider.min), slider.max), 1)
        self._holding = False
        self._redraw()

    @torch.no_grad()
    def png(self) -> bytes:
        """The panel as PNG bytes: the chosen digit large, and below it all ten digits in the same style."""
        z, K = self.z(), self.model.config.n_classes
        big = to_png(self.model.generate(z, self.digit.value), scale=8)               # 240 x 240
        row = to_png(self.model.generate(z.expand(K, -1), torch.arange(K, device=z.device)), scale=2)  # 60 x 582
        canvas = PILImage.new("L", (row.width, big.height + 12 + row.height), 255)    # white, like the frames
        canvas.paste(big, ((row.width - big.width) // 2, 0))
        canvas.paste(row, (0, big.height + 12))
        buffer = io.BytesIO()
        canvas.save(buffer, format="png")
        return buffer.getvalue()

    def _redraw(self, _change=None) -> None:
        if self._holding:
            return
        start = time.perf_counter()
        self.image.value = self.png()
        ms = 1000 * (time.perf_counter() - start)
        self.status.value = (f"<small>digit {self.digit.value}: drawn in {ms:.0f} ms; below it, every digit "
                             "in this style</small>")


def draw_digits(model: ConditionalVAE, x_test: torch.Tensor, y_test: torch.Tensor, digit: int = 3) -> DigitDrawer:
    """The notebook's one-liner: the widget (it displays itself) over `model` and the test set's styles."""
    n_classes = model.config.n_classes
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit < n_classes:
        raise ValueError(f"digit must be one of the model's classes, 0 to {n_classes - 1}, got {digit!r}")
    return DigitDrawer(model, x_test, y_test, digit)
