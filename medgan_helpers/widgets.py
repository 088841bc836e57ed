"""The interactive sampler's view: ipywidgets around a headless ``explorer.LatentExplorer``.

``SamplerWidget(model, dataset=None, **settings)`` shows one explorer
(``explorer.LatentExplorer(model, dataset, **settings)``: any model with the
kit's sampler protocol, ``sampling.Sampler``, or a bare Keras generator) as:

- a **seed** slider and a **new seed** button (same seed -> same image),
- a **class** dropdown for conditional models (hidden for unconditional ones),
- a **truncation** slider (at its right end truncation is *off*: plain normal latents),
- for a sampler that draws in steps (a diffusion model: ``steps`` and ``guidance``
  attributes), a **steps** slider (denoising steps: quality against time) and a
  **guidance** slider (classifier-free guidance; conditional models only); a GAN,
  one forward pass, has neither,
- a few **latent direction** sliders (prior standard deviations along the
  explorer's directions; ``direction_note`` says how they were found),
- an **interpolation strip** (slerp) from the current seed to a second seed,
- a **nearest real training image** panel with its pixel distance, when a
  dataset is given: what memorisation would look like.

The state lives in ``widget.explorer``; the widget only turns control values
into explorer settings and draws what the explorer makes. Images are PNG bytes
(Pillow) written into ``ipywidgets.Image`` widgets, so the view updates in
place. ``render()`` returns the shown sample as uint8 H x W x C;
``current_image`` (float32 in [-1, 1]), ``strip_images``, ``nearest_index`` /
``nearest_distance`` hold what is on screen. Stable CSS classes
(``medgan-sampler``, ``medgan-sample``, ``medgan-seed``, ``medgan-class`` …) are
hooks for browser tests. Only standard ipywidgets are used (7.7 and 8 both work).
"""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from medgan_helpers import data
from medgan_helpers.explorer import LatentExplorer, NearestReal
from medgan_helpers.pictures import image_strip, to_png

#: the steps slider's right end (the benchmark's slowest setting; DDIM needs far fewer than T = 1000)
_MOST_STEPS = 250


def _small(text: str) -> str:
    """Small text with a normal line height (ipywidgets' HTML uses the tall control height)."""
    return f"<div style='font-size: 85%; line-height: 1.35'>{text}</div>"


def _from_explorer(name: str, doc: str) -> property:
    """A read-only attribute of the widget that is its explorer's attribute ``name``."""
    return property(lambda self: getattr(self.explorer, name), doc=doc)


class SamplerWidget:
    """An ipywidgets sampler: the view of one ``explorer.LatentExplorer``.

    Parameters
    ----------
    model:
        Anything with the sampler protocol (a ``gan.GAN``, a ``sampling.GeneratorModel``),
        a bare Keras generator ``Model``, or a ready ``explorer.LatentExplorer``.
    dataset:
        Optional real training images for the nearest-real panel (see ``LatentExplorer``).
    display_size:
        On-screen size of the sample in pixels (the browser scales the PNG).
    settings:
        The explorer's keyword arguments (``n_directions``, ``directions``,
        ``pca_samples``, ``strip_length``, ``seed``, ``max_seed``, ``num_classes``,
        ``class_names``, ``nearest_max``, ``options``); not allowed with a ready explorer.
    """

    def __init__(self, model: Any, dataset: Any = None, *, display_size: int = 192, **settings: Any) -> None:
        if isinstance(model, LatentExplorer):
            if dataset is not None or settings:
                raise ValueError(
                    "SamplerWidget: got a ready LatentExplorer and also dataset/settings; give those "
                    "to the LatentExplorer instead, or pass the model itself."
                )
            self.explorer = model
        else:
            self.explorer = LatentExplorer(model, dataset, **settings)
        self.display_size = int(display_size)
        self._suspended = False  # inside hold(): controls feed the explorer, nothing is drawn yet
        self._syncing = False  # controls are being moved to match the explorer: do not read them back
        self.last_render_ms = float("nan")
        self.nearest: NearestReal | None = None
        self._build_widgets()
        self.render()
        self.render_strip()

    # -- the explorer's facts and state, read through (the explorer is the one place they live)

    class_names = _from_explorer("class_names", "The class names shown in the dropdown (None = unconditional).")
    num_classes = _from_explorer("num_classes", "The model's class count (None = unconditional).")
    directions = _from_explorer("directions", "The latent directions behind the sliders (k x latent_dim).")
    direction_note = _from_explorer("direction_note", "How the latent directions were found.")
    seed = _from_explorer("seed", "The current seed.")
    label = _from_explorer("label", "The current class index (None for an unconditional model).")
    truncation = _from_explorer("truncation", "The truncation threshold; None (off) at the slider's right end.")
    direction_values = _from_explorer("direction_values", "The direction slider values (latent std devs).")

    def current_latent(self) -> np.ndarray:
        """The latent vector shown now: the seed's latent plus the direction offsets."""
        return self.explorer.current_latent()

    @property
    def nearest_index(self) -> int | None:
        """The dataset index of the real image in the nearest-real panel (None without a dataset)."""
        return None if self.nearest is None else self.nearest.index

    @property
    def nearest_distance(self) -> float | None:
        """Its L2 pixel distance to the shown sample (None without a dataset)."""
        return None if self.nearest is None else self.nearest.distance

    # -- widgets -------------------------------------------------------------

    def _build_widgets(self) -> None:
        ex = self.explorer
        import ipywidgets as w

        wide = {"description_width": "initial"}
        self.seed_slider = w.IntSlider(
            value=ex.seed, min=0, max=ex.max_seed, step=1, description="seed",
            continuous_update=True, style=wide, layout=w.Layout(width="320px"),
        )
        self.seed_slider.add_class("medgan-seed")
        self.new_seed_button = w.Button(description="new seed", icon="random", tooltip="pick a random seed")
        self.new_seed_button.add_class("medgan-new-seed")
        self.new_seed_button.on_click(lambda _button: self.new_seed())

        options = [(name, i) for i, name in enumerate(ex.class_names or ["(unconditional)"])]
        self.class_dropdown = w.Dropdown(
            options=options, value=0, description="class", style=wide,
            disabled=ex.num_classes is None,
            layout=w.Layout(width="260px", display=None if ex.num_classes else "none"),
        )
        self.class_dropdown.add_class("medgan-class")

        self.truncation_slider = w.FloatSlider(
            value=3.0, min=0.1, max=3.0, step=0.1, description="truncation",
            continuous_update=True, readout_format=".1f", style=wide, layout=w.Layout(width="320px"),
        )
        self.truncation_slider.add_class("medgan-truncation")
        self.truncation_label = w.HTML()
        self._build_sampling_sliders(w, wide)

        self.direction_sliders = []
        for i in range(len(ex.directions)):
            slider = w.FloatSlider(
                value=0.0, min=-3.0, max=3.0, step=0.1, description=f"direction {i + 1}",
                continuous_update=True, readout_format="+.1f", style=wide, layout=w.Layout(width="320px"),
            )
            slider.add_class("medgan-direction")
            self.direction_sliders.append(slider)
        self.reset_directions_button = w.Button(description="reset directions", icon="undo")
        self.reset_directions_button.add_class("medgan-reset-directions")
        self.reset_directions_button.on_click(lambda _button: self.reset_directions())

        size = str(self.display_size)
        self.image_widget = w.Image(format="png", width=size, height=size, layout=w.Layout(flex="0 0 auto"))
        self.image_widget.add_class("medgan-sample")
        self.caption = w.HTML()
        self.caption.add_class("medgan-caption")
        self.nearest_widget = w.Image(format="png", width=size, height=size, layout=w.Layout(flex="0 0 auto"))
        self.nearest_widget.add_class("medgan-nearest")
        self.nearest_label = w.HTML()
        self.nearest_label.add_class("medgan-nearest-label")

        self.strip_seed_slider = w.IntSlider(
            value=ex.strip_seed, min=0, max=ex.max_seed, description="interpolate to seed",
            continuous_update=False, style=wide, layout=w.Layout(width="420px"),
        )
        self.strip_seed_slider.add_class("medgan-strip-seed")
        strip_width = ex.strip_length * (self.display_size // 2)
        self.strip_widget = w.Image(format="png", width=str(strip_width))
        self.strip_widget.add_class("medgan-strip")
        self.status = w.HTML()
        self.status.add_class("medgan-status")

        # every control feeds the explorer; the sample and the strip redraw only when they depend on it
        drawing = [s for s in (self.steps_slider, self.guidance_slider) if s is not None]
        for control in (self.seed_slider, self.class_dropdown, self.truncation_slider, *drawing,
                        *self.direction_sliders):
            control.observe(self._on_change, names="value")
        for control in (self.seed_slider, self.class_dropdown, self.truncation_slider, *drawing,
                        self.strip_seed_slider):
            control.observe(self._on_strip_change, names="value")

        # fixed-width picture panels that never shrink; the row wraps on narrow screens
        panel = {"flex": "0 0 auto", "width": f"{self.display_size + 24}px", "margin": "0 0 0 12px"}
        sample_box = w.VBox(
            [w.HTML("<b>generated sample</b>"), self.image_widget, self.caption], layout=w.Layout(**panel)
        )
        panels = [sample_box]
        if ex.dataset is not None:
            nearest_box = w.VBox(
                [w.HTML("<b>nearest real image</b>"), self.nearest_widget, self.nearest_label],
                layout=w.Layout(**panel),
            )
            nearest_box.add_class("medgan-nearest-panel")
            panels.append(nearest_box)
        controls = w.VBox(
            [
                w.HBox([self.seed_slider, self.new_seed_button]),
                self.class_dropdown,
                w.HBox([self.truncation_slider, self.truncation_label]),
                *[s for s in (self.steps_slider, self.guidance_slider) if s is not None],
                *self.direction_sliders,
                *([self.reset_directions_button] if self.direction_sliders else []),
                w.HTML(_small(f"directions: {ex.direction_note}")),
            ]
        )
        strip_box = w.VBox([w.HTML("<b>interpolation (slerp)</b>"), self.strip_seed_slider, self.strip_widget])
        controls.layout = w.Layout(flex="0 1 auto", max_width="480px")
        top = w.HBox([controls, *panels], layout=w.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.widget = w.VBox([top, strip_box, self.status])
        self.widget.add_class("medgan-sampler")

    def _build_sampling_sliders(self, w: Any, style: dict) -> None:
        """The steps and guidance sliders of a sampler that has those settings (a diffusion model), else None.

        They start at the explorer's options, else at the sampler's defaults, and move the
        explorer's options (what every draw passes to ``generate_from_latent``), never the
        sampler object itself, which may be evaluated or exported elsewhere. They redraw on
        release only: each step is one pass of the network.
        """
        ex, model = self.explorer, self.explorer.model
        self.steps_slider = self.guidance_slider = None
        if not (hasattr(model, "steps") and hasattr(model, "guidance")):
            return
        steps = int(ex.options.get("steps", model.steps))
        timesteps = int(getattr(getattr(model, "schedule", None), "timesteps", _MOST_STEPS))
        self.steps_slider = w.IntSlider(
            value=steps, min=1, max=max(steps, min(_MOST_STEPS, timesteps)), description="steps",
            continuous_update=False, style=style, layout=w.Layout(width="320px"),
        )
        self.steps_slider.add_class("medgan-steps")
        guidance = float(ex.options.get("guidance", model.guidance))
        self.guidance_slider = w.FloatSlider(
            value=guidance, min=0.0, max=max(5.0, guidance), step=0.1, description="guidance",
            continuous_update=False, readout_format=".1f", style=style, disabled=ex.num_classes is None,
            # guidance mixes the class's prediction with the classless one: nothing to mix without classes
            layout=w.Layout(width="320px", display=None if ex.num_classes else "none"),
        )
        self.guidance_slider.add_class("medgan-guidance")

    @property
    def steps(self) -> int | None:
        """The denoising steps every draw uses (the steps slider); None for a sampler without steps (a GAN)."""
        return None if self.steps_slider is None else int(self.steps_slider.value)

    @property
    def guidance(self) -> float | None:
        """The guidance scale every draw uses (the guidance slider); None for a sampler without it (a GAN)."""
        return None if self.guidance_slider is None else float(self.guidance_slider.value)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- controls <-> explorer -------------------------------------------------

    def _slider_truncation(self) -> float | None:
        value = float(self.truncation_slider.value)
        return None if value >= self.truncation_slider.max - 1e-9 else value

    def _pull_controls(self) -> None:
        """Hand the values the controls show to the explorer."""
        self.explorer.set(
            seed=int(self.seed_slider.value),
            label=int(self.class_dropdown.value) if self.explorer.num_classes else None,
            truncation=self._slider_truncation(),
            directions=[s.value for s in self.direction_sliders],
            strip_seed=int(self.strip_seed_slider.value),
            options=None if self.steps_slider is None else {"steps": self.steps, "guidance": self.guidance},
        )

    def _push_controls(self) -> None:
        """Move the controls to the explorer's state, then read them back (a slider clamps what it cannot show)."""
        ex = self.explorer
        self._syncing = True
        try:
            self.seed_slider.value = ex.seed
            if ex.label is not None:
                self.class_dropdown.value = ex.label
            trunc = ex.truncation
            self.truncation_slider.value = self.truncation_slider.max if trunc is None else trunc
            for slider, value in zip(self.direction_sliders, ex.direction_values):
                slider.value = float(value)
            self.strip_seed_slider.value = ex.strip_seed
            if self.steps_slider is not None:
                self.steps_slider.value = int(ex.options.get("steps", self.steps_slider.value))
                self.guidance_slider.value = float(ex.options.get("guidance", self.guidance_slider.value))
        finally:
            self._syncing = False
        self._pull_controls()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls, render once at the end: ``with sampler.hold(): ...``."""
        self._suspended = True
        try:
            yield
        finally:
            self._suspended = False
        self.render()
        self.render_strip()

    def set(self, **settings: Any) -> np.ndarray:
        """Set several controls at once (the keywords of ``LatentExplorer.set``, and ``steps`` and
        ``guidance`` for a sampler that has them), redraw once, return ``render()``.

        A setting left out stays as it is; ``truncation=None`` (or the slider's
        right end) turns truncation off. A bad value raises before anything moves.
        """
        drawing = {name: settings.pop(name) for name in ("steps", "guidance") if name in settings}
        if drawing:
            if self.steps_slider is None:
                raise ValueError(f"{', '.join(drawing)}: {type(self.explorer.model).__name__} draws in one pass, "
                                 "without steps or guidance (a diffusion sampler has them); leave them out.")
            settings["options"] = {**(settings.get("options") or {}), **self._checked_drawing(**drawing)}
        trunc = settings.get("truncation")
        if isinstance(trunc, (int, float)) and trunc >= self.truncation_slider.max:
            settings["truncation"] = None  # the slider's right end means "off"
        with self.hold():
            self.explorer.set(**settings)
            self._push_controls()
        return data.to_uint8(self.current_image)

    def _checked_drawing(self, steps: Any = None, guidance: Any = None) -> dict[str, Any]:
        """``steps`` / ``guidance`` for ``set``, checked against what the sliders can show."""
        out: dict[str, Any] = {}
        if steps is not None:
            low, high = self.steps_slider.min, self.steps_slider.max
            if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not low <= steps <= high:
                raise ValueError(f"steps={steps!r}: use a whole number of denoising steps from {low} to {high}.")
            out["steps"] = int(steps)
        if guidance is not None:
            high = self.guidance_slider.max
            if not isinstance(guidance, (int, float, np.number)) or not 0.0 <= float(guidance) <= high:
                raise ValueError(f"guidance={guidance!r}: use a number from 0 (no class) to {high:g} "
                                 "(1 = the model as trained).")
            out["guidance"] = float(guidance)
        return out

    def new_seed(self) -> int:
        """Jump to a random seed different from the current one (the "new seed" button)."""
        with self.hold():
            seed = self.explorer.new_seed()
            self._push_controls()
        return seed

    def reset_directions(self) -> None:
        """Put every direction slider back to 0."""
        with self.hold():
            self.explorer.reset_directions()
            self._push_controls()

    # -- rendering -------------------------------------------------------

    def _on_change(self, _change: dict) -> None:
        if not self._syncing:
            self._pull_controls()
            if not self._suspended:
                self.render()

    def _on_strip_change(self, _change: dict) -> None:
        if not self._syncing:
            self._pull_controls()
            if not self._suspended:
                self.render_strip()

    def render(self) -> np.ndarray:
        """Generate the current sample, update the widgets in place, return it as uint8 H x W x C."""
        start = time.perf_counter()
        image = self.explorer.image()
        self.current_image: np.ndarray = image
        self.image_widget.value = to_png(image)
        trunc = self.truncation
        self.truncation_label.value = (
            _small("off (plain normal latents)") if trunc is None else _small(f"|z| ≤ {trunc:.1f}")
        )
        what = f"seed {self.seed}" + (f" · {self.class_names[self.label]}" if self.label is not None else "")
        if self.steps_slider is not None:
            what += f" · {self.steps} steps" + (f" · guidance {self.guidance:.1f}" if self.num_classes else "")
        self.caption.value = _small(html.escape(what))
        if self.explorer.dataset is not None:
            self.nearest = self.explorer.nearest_real(image)
            self.nearest_widget.value = to_png(self.nearest.image)
            self.nearest_label.value = _small(html.escape(self.nearest.describe()))
        # timed to here, so the figure covers what a slider move costs: generate, search, encode
        self.last_render_ms = (time.perf_counter() - start) * 1000.0
        self.status.value = _small(f"rendered in {self.last_render_ms:.0f} ms")
        return data.to_uint8(image)

    def time_render(self, repeats: int = 5) -> float:
        """Median wall time in ms of ``repeats`` renders of the current state (after one warm-up)."""
        self.render()
        times = []
        for _ in range(max(1, int(repeats))):
            self.render()
            times.append(self.last_render_ms)
        return float(np.median(times))

    def render_strip(self) -> np.ndarray:
        """Regenerate the interpolation strip between the seed and the "to seed"; return K x H x W x C."""
        images = self.explorer.strip()
        self.strip_images: np.ndarray = images
        self.strip_widget.value = to_png(image_strip(images))
        return images
