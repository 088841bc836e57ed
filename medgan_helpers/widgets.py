"""The interactive sampler: turn a knob, watch a generated brain slice change.

``Sampler(gan_or_generator, dataset=None)`` builds an ipywidgets UI around any
model that speaks the kit's sampler protocol (``sampling.Sampler``: a
``gan.GAN``, a ``sampling.GeneratorModel``) or around a bare Keras generator ``Model``:

- **seed** slider and a **new seed** button (same seed -> same image),
- **class** dropdown for conditional models (hidden for unconditional ones),
- **truncation** slider (latent entries with ``|z| > t`` are resampled; at the
  right end of the slider truncation is *off*, i.e. plain normal latents),
- a few **latent direction** sliders. The directions are estimated once, when the
  sampler is built, GANSpace-style: generate images for ``pca_samples`` random
  latents, take the principal components of the *images* (G's response), and
  regress the latents onto the component scores; each regression vector,
  normalised and orthogonalised, is the latent direction that moves the image
  along one principal mode of variation. Slider units are standard deviations of
  the latent prior. When that estimate is degenerate (for example an untrained
  generator whose output barely varies) or ``directions="random"`` is asked for,
  the sampler falls back to random orthonormal directions; ``sampler.direction_method``
  and ``sampler.direction_note`` say which one you got,
- an **interpolation strip** between the current seed and a second seed along
  the great circle of the latent sphere (spherical interpolation, ``slerp``),
- a **nearest real training image** panel with its pixel distance, when a
  dataset is given: what memorisation would look like (a sample that is almost a
  copy of a training image).

Images are PNG bytes (encoded by Pillow) written into ``ipywidgets.Image``
widgets, so the view updates in place. The state is testable without a browser:
set widget values from Python and read ``sampler.current_image`` (float32
H x W x C in [-1, 1]), ``sampler.render()`` (uint8 H x W x C), ``sampler.strip_images``,
``sampler.nearest_index`` / ``sampler.nearest_distance``. Stable CSS classes
(``medgan-sampler``, ``medgan-sample``, ``medgan-seed``, ``medgan-class`` …) are
hooks for browser tests. Only standard ipywidgets are used (7.7 and 8 both work).
"""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from medgan_helpers import data
from medgan_helpers.evaluation.metrics import nearest_neighbours
from medgan_helpers.pictures import image_strip, to_png
from medgan_helpers.sampling import as_sampler, latent_directions, slerp


def _flatten_reference(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real images flattened once, with their squared norms (for repeated nearest-image searches)."""
    flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    return flat, (flat.astype(np.float64) ** 2).sum(1)


def _small(text: str) -> str:
    """Small text with a normal line height (ipywidgets' HTML uses the tall control height)."""
    return f"<div style='font-size: 85%; line-height: 1.35'>{text}</div>"



class Sampler:
    """An ipywidgets sampler for a GAN, a GeneratorModel or a bare Keras generator.

    Parameters
    ----------
    gan_or_generator:
        Anything with the sampler protocol (``latent_dim``, ``num_classes``,
        ``image_size``, ``channels``, ``sample_latent``, ``generate_from_latent``),
        or a Keras generator ``Model`` (wrapped by ``sampling.as_sampler``).
    dataset:
        Optional real training images (an ``ImageSet`` or an N x H x W x C array in
        [-1, 1]) for the "nearest real training image" panel. Must match the
        model's image size and channels (and class count, for a conditional model).
    n_directions:
        Number of latent direction sliders (0 hides them).
    directions:
        ``"pca"`` (principal directions of G's response, default) or ``"random"``.
    pca_samples:
        Generated images used once to estimate the PCA directions.
    strip_length:
        Images in the interpolation strip (endpoints included).
    seed, max_seed:
        Initial seed and the seed slider's range (0 … ``max_seed``).
    display_size:
        On-screen size of the sample in pixels (the browser scales the PNG).
    num_classes, class_names:
        Only for a bare Keras generator whose class count cannot be read from its layers.
    nearest_max:
        The nearest-real panel searches at most this many training images (a fixed
        random subset of larger datasets, said in the panel); None searches all.
    """

    def __init__(
        self,
        gan_or_generator: Any,
        dataset: Any = None,
        *,
        n_directions: int = 3,
        directions: str = "pca",
        pca_samples: int = 128,
        strip_length: int = 7,
        seed: int = 0,
        max_seed: int = 999,
        display_size: int = 192,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        nearest_max: int | None = 20000,
    ) -> None:
        self.model = as_sampler(gan_or_generator, num_classes=num_classes, class_names=class_names)
        self.latent_dim = int(self.model.latent_dim)
        self.image_size = int(self.model.image_size)
        self.channels = int(self.model.channels)
        self.num_classes = int(self.model.num_classes) if self.model.num_classes else None
        if strip_length < 2:
            raise ValueError(f"strip_length={strip_length}: the strip needs at least its 2 endpoints.")
        if not 0 <= seed <= max_seed:
            raise ValueError(f"seed={seed} is outside the seed slider's range 0…{max_seed}.")
        self.dataset = dataset
        self._reference = None
        self._reference_index: np.ndarray | None = None  # searched subset of a very large dataset
        self.nearest_max = nearest_max
        self._dataset_labels = None
        self._dataset_class_names = None
        if dataset is not None:
            self._check_dataset(dataset)
        self.class_names = self._resolve_class_names(class_names)
        self.strip_length = int(strip_length)
        self.display_size = int(display_size)
        self._rng = np.random.default_rng()
        self._latent_cache: dict[tuple[int, float | None], np.ndarray] = {}
        self._suspended = False
        self.last_render_ms = float("nan")

        self.directions, self.direction_method, self.direction_note = latent_directions(
            self.model, k=n_directions, method=directions, n_samples=pca_samples
        )
        self._build_widgets(seed, max_seed)
        self.current_image: np.ndarray = np.zeros(
            (self.image_size, self.image_size, self.channels), np.float32
        )
        self.strip_images: np.ndarray = np.zeros(
            (self.strip_length, self.image_size, self.image_size, self.channels), np.float32
        )
        self.nearest_index: int | None = None
        self.nearest_distance: float | None = None
        self.render()
        self.render_strip()

    # -- validation ---------------------------------------------------------

    def _check_dataset(self, dataset: Any) -> None:
        name = getattr(dataset, "name", "dataset")
        if hasattr(dataset, "images"):
            shape = tuple(np.shape(dataset.pixels if hasattr(dataset, "pixels") else dataset.images))
        else:
            shape = tuple(np.shape(dataset))
        if len(shape) != 4 or shape[0] == 0:
            raise ValueError(
                f"Sampler: dataset {name!r} has shape {shape}; pass an ImageSet (data.load_dataset) "
                "or an N x H x W x C array of real images in [-1, 1]."
            )
        _, h, w, c = shape
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(
                f"Sampler: dataset {name!r} holds {h}x{w} px images but the model generates "
                f"{self.image_size}x{self.image_size} px. Load the dataset at the model's size: "
                f"data.load_dataset(..., image_size={self.image_size})."
            )
        if c != self.channels:
            raise ValueError(
                f"Sampler: dataset {name!r} has {c} channel(s) but the model generates "
                f"{self.channels}. Use a dataset with {self.channels} channel(s) (grey = 1, RGB = 3)."
            )
        class_names = getattr(dataset, "class_names", None)
        labels = getattr(dataset, "labels", None)
        if self.num_classes is not None and class_names:
            if len(class_names) != self.num_classes:
                raise ValueError(
                    f"Sampler: dataset {name!r} has {len(class_names)} classes "
                    f"({', '.join(map(str, class_names))}) but the conditional model was trained "
                    f"with {self.num_classes}. Use the dataset the model was trained on."
                )
        if labels is not None and np.ndim(labels) == 1:
            self._dataset_labels = np.asarray(labels)
        self._dataset_class_names = list(class_names) if class_names else None
        n = shape[0]
        if self.nearest_max is not None and n > self.nearest_max:
            # keep every render fast (and memory small): search a fixed random subset
            self._reference_index = np.sort(
                np.random.default_rng(0).choice(n, int(self.nearest_max), replace=False)
            )
            if hasattr(dataset, "batch_images"):
                subset = dataset.batch_images(self._reference_index)
            else:
                subset = np.asarray(dataset.images if hasattr(dataset, "images") else dataset)[
                    self._reference_index
                ]
            self._reference = _flatten_reference(subset)
        else:
            self._reference = _flatten_reference(dataset.images if hasattr(dataset, "images") else dataset)

    def _resolve_class_names(self, class_names: Sequence[str] | None) -> list[str] | None:
        if self.num_classes is None:
            return None
        # names the model was given, else the caller's, else the dataset's ("class i" last)
        own = getattr(self.model, "_class_names", None) or None
        names = own or class_names or self._dataset_class_names
        if names is not None and len(names) == self.num_classes:
            return [str(n) for n in names]
        return [f"class {i}" for i in range(self.num_classes)]

    # -- widgets -------------------------------------------------------------

    def _build_widgets(self, seed: int, max_seed: int) -> None:
        import ipywidgets as w

        wide = {"description_width": "initial"}
        self.seed_slider = w.IntSlider(
            value=seed, min=0, max=max_seed, step=1, description="seed",
            continuous_update=True, style=wide, layout=w.Layout(width="320px"),
        )
        self.seed_slider.add_class("medgan-seed")
        self.new_seed_button = w.Button(description="new seed", icon="random", tooltip="pick a random seed")
        self.new_seed_button.add_class("medgan-new-seed")
        self.new_seed_button.on_click(lambda _button: self.new_seed())

        options = [(name, i) for i, name in enumerate(self.class_names or ["(unconditional)"])]
        self.class_dropdown = w.Dropdown(
            options=options, value=0, description="class", style=wide,
            disabled=self.num_classes is None,
            layout=w.Layout(width="260px", display=None if self.num_classes else "none"),
        )
        self.class_dropdown.add_class("medgan-class")

        self.truncation_slider = w.FloatSlider(
            value=3.0, min=0.1, max=3.0, step=0.1, description="truncation",
            continuous_update=True, readout_format=".1f", style=wide, layout=w.Layout(width="320px"),
        )
        self.truncation_slider.add_class("medgan-truncation")
        self.truncation_label = w.HTML()

        self.direction_sliders = []
        for i in range(len(self.directions)):
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
            value=(seed + 1) % (max_seed + 1), min=0, max=max_seed, description="interpolate to seed",
            continuous_update=False, style=wide, layout=w.Layout(width="420px"),
        )
        self.strip_seed_slider.add_class("medgan-strip-seed")
        strip_width = self.strip_length * (self.display_size // 2)
        self.strip_widget = w.Image(format="png", width=str(strip_width))
        self.strip_widget.add_class("medgan-strip")
        self.status = w.HTML()
        self.status.add_class("medgan-status")

        for control in (self.seed_slider, self.class_dropdown, self.truncation_slider, *self.direction_sliders):
            control.observe(self._on_change, names="value")
        for control in (self.seed_slider, self.class_dropdown, self.truncation_slider, self.strip_seed_slider):
            control.observe(self._on_strip_change, names="value")

        # fixed-width picture panels that never shrink; the row wraps on narrow screens
        panel = {"flex": "0 0 auto", "width": f"{self.display_size + 24}px", "margin": "0 0 0 12px"}
        sample_box = w.VBox(
            [w.HTML("<b>generated sample</b>"), self.image_widget, self.caption], layout=w.Layout(**panel)
        )
        panels = [sample_box]
        if self.dataset is not None:
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
                *self.direction_sliders,
                *([self.reset_directions_button] if self.direction_sliders else []),
                w.HTML(_small(f"directions: {self.direction_note}")),
            ]
        )
        strip_box = w.VBox([w.HTML("<b>interpolation (slerp)</b>"), self.strip_seed_slider, self.strip_widget])
        controls.layout = w.Layout(flex="0 1 auto", max_width="480px")
        top = w.HBox([controls, *panels], layout=w.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.widget = w.VBox([top, strip_box, self.status])
        self.widget.add_class("medgan-sampler")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- state -------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The current seed."""
        return int(self.seed_slider.value)

    @property
    def label(self) -> int | None:
        """The current class index (None for an unconditional model)."""
        return int(self.class_dropdown.value) if self.num_classes is not None else None

    @property
    def truncation(self) -> float | None:
        """The current truncation threshold; None (off) at the slider's right end."""
        value = float(self.truncation_slider.value)
        return None if value >= self.truncation_slider.max - 1e-9 else round(value, 3)

    @property
    def direction_values(self) -> np.ndarray:
        """The direction slider values (latent standard deviations)."""
        return np.array([s.value for s in self.direction_sliders], dtype=np.float32)

    def _base_latent(self, seed: int) -> np.ndarray:
        key = (int(seed), self.truncation)
        if key not in self._latent_cache:
            if len(self._latent_cache) > 256:
                self._latent_cache.clear()
            z = self.model.sample_latent(1, seed=int(seed), truncation=self.truncation)
            self._latent_cache[key] = np.asarray(z, dtype=np.float32).reshape(self.latent_dim)
        return self._latent_cache[key]

    def current_latent(self) -> np.ndarray:
        """The latent vector shown now: the seed's latent plus the direction offsets."""
        z = self._base_latent(self.seed).copy()
        if len(self.directions):
            z += self.direction_values @ self.directions
        return z

    def _labels(self, n: int) -> np.ndarray | None:
        return None if self.label is None else np.full((n,), self.label, dtype=np.int32)

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

    def set(
        self,
        seed: int | None = None,
        label: int | None = None,
        truncation: float | None = None,
        directions: Sequence[float] | None = None,
        strip_seed: int | None = None,
    ) -> np.ndarray:
        """Set several controls at once (``None`` leaves one unchanged) and return ``render()``."""
        with self.hold():
            if seed is not None:
                self.seed_slider.value = int(seed)
            if label is not None:
                if self.num_classes is None:
                    raise ValueError("label: this model is unconditional; it has no classes to choose.")
                if not 0 <= int(label) < self.num_classes:
                    raise ValueError(f"label={label}: choose a class index 0…{self.num_classes - 1}.")
                self.class_dropdown.value = int(label)
            if truncation is not None:
                self.truncation_slider.value = float(truncation)
            if directions is not None:
                if len(directions) != len(self.direction_sliders):
                    raise ValueError(
                        f"directions: got {len(directions)} values for {len(self.direction_sliders)} sliders."
                    )
                for slider, value in zip(self.direction_sliders, directions):
                    slider.value = float(value)
            if strip_seed is not None:
                self.strip_seed_slider.value = int(strip_seed)
        return data.to_uint8(self.current_image)

    def new_seed(self) -> int:
        """Jump to a random seed different from the current one (the "new seed" button)."""
        high = int(self.seed_slider.max)
        seed = self.seed
        while high > 0 and seed == self.seed:
            seed = int(self._rng.integers(0, high + 1))
        self.seed_slider.value = seed
        return seed

    def reset_directions(self) -> None:
        """Put every direction slider back to 0."""
        with self.hold():
            for slider in self.direction_sliders:
                slider.value = 0.0

    # -- rendering -------------------------------------------------------

    def _on_change(self, _change: dict) -> None:
        if not self._suspended:
            self.render()

    def _on_strip_change(self, _change: dict) -> None:
        if not self._suspended:
            self.render_strip()

    def render(self) -> np.ndarray:
        """Generate the current sample, update the widgets in place, return it as uint8 H x W x C."""
        start = time.perf_counter()
        z = self.current_latent()[None]
        image = np.asarray(self.model.generate_from_latent(z, self._labels(1)), dtype=np.float32)[0]
        self.current_image = image
        self.image_widget.value = to_png(image)
        self.last_render_ms = (time.perf_counter() - start) * 1000.0
        trunc = self.truncation
        self.truncation_label.value = (
            _small("off (plain normal latents)") if trunc is None else _small(f"|z| ≤ {trunc:.1f}")
        )
        what = f"seed {self.seed}" + (f" · {self.class_names[self.label]}" if self.label is not None else "")
        self.caption.value = _small(html.escape(what))
        if self._reference is not None:
            self._update_nearest(image)
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

    def _update_nearest(self, image: np.ndarray) -> None:
        flat, norms = self._reference
        indices, distances = nearest_neighbours(image[None], flat, reference_norms=norms)
        local = int(indices[0])
        real = self._reference[0][local].reshape(image.shape)
        if self._reference_index is not None:
            self.nearest_index = int(self._reference_index[local])
        else:
            self.nearest_index = local
        self.nearest_distance = float(distances[0])
        self.nearest_widget.value = to_png(real)
        rms = self.nearest_distance / np.sqrt(image.size)
        what = f"#{self.nearest_index}"
        if self._reference_index is not None:
            what += f" (searched {len(self._reference_index)} of {len(self.dataset)} images)"
        if self._dataset_labels is not None and self._dataset_class_names:
            label = int(self._dataset_labels[self.nearest_index])
            if 0 <= label < len(self._dataset_class_names):
                what += f" ({self._dataset_class_names[label]})"
        self.nearest_label.value = _small(
            f"{html.escape(what)}: L2 distance {self.nearest_distance:.2f} "
            f"(RMS {rms:.3f} per pixel, pixels in [-1, 1])"
        )

    def render_strip(self) -> np.ndarray:
        """Regenerate the interpolation strip between the seed and the "to seed"; return K x H x W x C."""
        z0 = self._base_latent(self.seed)
        z1 = self._base_latent(int(self.strip_seed_slider.value))
        zs = slerp(z0, z1, np.linspace(0.0, 1.0, self.strip_length))
        images = np.asarray(
            self.model.generate_from_latent(zs, self._labels(self.strip_length)), dtype=np.float32
        )
        self.strip_images = images
        self.strip_widget.value = to_png(image_strip(images))
        return images
