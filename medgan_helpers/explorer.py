"""The state behind the interactive sampler, without a widget: a latent-space explorer.

``LatentExplorer(model, dataset=None)`` holds everything the sampler of
notebook 06 shows, and nothing about how it is shown:

- the **seed** (same seed -> same latent -> same image) and, for a conditional
  model, the **label** (a class index or a class name);
- **truncation**: latent entries with ``|z| > t`` are redrawn (``None`` = off,
  plain normal latents; see ``sampling.truncated_normal``);
- a few **latent directions**, estimated once when the explorer is built,
  GANSpace-style (``sampling.latent_directions``: principal components of G's
  response, regressed back onto the latents), with random orthonormal
  directions as the fallback. ``direction_values[i]`` moves the latent by that
  many prior standard deviations along ``directions[i]``:
  ``current_latent() == base_latent(seed) + direction_values @ directions``;
- the **interpolation strip**: ``strip_length`` latents along the great circle
  (``sampling.slerp``) from the seed's latent to ``strip_seed``'s;
- the **nearest real training image** of a sample (L2 over pixels in [-1, 1]),
  searched in the dataset given (a fixed random subset when it is very large).

Any model with the ``sampling.Sampler`` protocol drives it (``gan.GAN``,
``sampling.GeneratorModel``, the diffusion sampler), or a bare Keras generator
(wrapped by ``sampling.as_sampler``). It uses the protocol only: ``latent_dim``,
``num_classes``, ``class_names``, ``image_size``, ``channels``,
``sample_latent`` and ``generate_from_latent``. ``options`` are extra keyword
arguments for every ``generate_from_latent`` call (a sampler's own settings,
such as its batch size; checked against its signature), so a sampler with more
knobs needs no new code here.

``widgets.SamplerWidget`` is the ipywidgets view of one explorer; tests and
scripts use the explorer directly.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medgan_helpers.evaluation.metrics import nearest_neighbours
from medgan_helpers.sampling import as_sampler, latent_directions, slerp


class _Keep:
    """The default of ``set(truncation=...)``: leave it as it is (``None`` means "off")."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()

_LATENT_CACHE_SIZE = 256  # (seed, truncation) pairs; a slider sweep stays well inside it


@dataclass(frozen=True)
class NearestReal:
    """The real image closest to a sample, in the dataset's own indexing."""

    index: int  # position in the dataset given to the explorer
    distance: float  # L2 distance over all pixels, both images in [-1, 1]
    image: np.ndarray  # the real image, float32 H x W x C in [-1, 1]
    class_name: str | None  # its class, when the dataset has labels and names
    searched: int  # how many real images were searched
    total: int  # how many the dataset holds

    @property
    def rms(self) -> float:
        """The distance per pixel (root mean square), comparable across image sizes."""
        return float(self.distance / np.sqrt(self.image.size))

    def describe(self) -> str:
        """One line: which image, how far, and whether only a subset was searched."""
        what = f"#{self.index}"
        if self.searched < self.total:
            what += f" (searched {self.searched} of {self.total} images)"
        if self.class_name is not None:
            what += f" ({self.class_name})"
        return f"{what}: L2 distance {self.distance:.2f} (RMS {self.rms:.3f} per pixel, pixels in [-1, 1])"


class LatentExplorer:
    """Seed, label, truncation, latent directions, strip and nearest-real search of one generator.

    Parameters
    ----------
    model:
        Anything with the sampler protocol, or a Keras generator ``Model``.
    dataset:
        Optional real training images (an ``ImageSet`` or an N x H x W x C array in
        [-1, 1]) for the nearest-real search. Must match the model's image size and
        channels (and class count, for a conditional model).
    n_directions, directions, pca_samples:
        How many latent directions, estimated how (``"pca"`` or ``"random"``), from
        how many generated images.
    strip_length:
        Images in the interpolation strip, endpoints included (at least 2).
    seed, strip_seed, max_seed:
        The starting seed, the strip's other end (default: the next seed) and the
        largest seed allowed (seeds are 0 … ``max_seed``).
    num_classes, class_names:
        Only for a bare Keras generator whose class count cannot be read from its
        layers; ``class_names`` also names the classes of a model that has none.
    nearest_max:
        Search at most this many real images (a fixed random subset of a larger
        dataset, so every search stays fast); None searches all.
    options:
        Extra keyword arguments for every ``model.generate_from_latent`` call.
    """

    def __init__(
        self,
        model: Any,
        dataset: Any = None,
        *,
        n_directions: int = 3,
        directions: str = "pca",
        pca_samples: int = 128,
        strip_length: int = 7,
        seed: int = 0,
        strip_seed: int | None = None,
        max_seed: int = 999,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        nearest_max: int | None = 20000,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = as_sampler(model, num_classes=num_classes, class_names=class_names)
        self.latent_dim = int(self.model.latent_dim)
        self.image_size = int(self.model.image_size)
        self.channels = int(self.model.channels)
        self.num_classes = int(self.model.num_classes) if self.model.num_classes else None
        if int(max_seed) < 0:
            raise ValueError(f"max_seed={max_seed}: seeds run from 0 to max_seed, so use max_seed >= 0.")
        if int(strip_length) < 2:
            raise ValueError(
                f"strip_length={strip_length}: the interpolation strip needs at least its 2 endpoints; "
                "use strip_length=2 or more."
            )
        self.max_seed = int(max_seed)
        self.strip_length = int(strip_length)
        self.nearest_max = nearest_max
        self.dataset = dataset
        self.searched_indices: np.ndarray | None = None  # the searched subset of a very large dataset
        self._reference: tuple[np.ndarray, np.ndarray] | None = None
        self._dataset_labels: np.ndarray | None = None
        self._dataset_class_names: list[str] | None = None
        if dataset is not None:
            self._check_dataset(dataset)
        self.class_names = self._resolve_class_names(class_names)
        self.options: dict[str, Any] = {}
        self._set_options(options or {})
        self._rng = np.random.default_rng()
        self._latent_cache: dict[tuple[int, float | None], np.ndarray] = {}
        self.directions, self.direction_method, self.direction_note = latent_directions(
            self.model, k=n_directions, method=directions, n_samples=pca_samples
        )
        self._seed = self._checked_seed("seed", seed)
        start = (self._seed + 1) % (self.max_seed + 1) if strip_seed is None else strip_seed
        self._strip_seed = self._checked_seed("strip_seed", start)
        self._label: int | None = 0 if self.num_classes else None
        self._truncation: float | None = None
        self._direction_values = np.zeros(len(self.directions), np.float32)

    # -- the state, read-only (change it with set) ----------------------------

    @property
    def seed(self) -> int:
        """The current seed (0 … ``max_seed``)."""
        return self._seed

    @property
    def label(self) -> int | None:
        """The current class index (None for an unconditional model)."""
        return self._label

    @property
    def truncation(self) -> float | None:
        """The current truncation threshold; None = off (plain normal latents)."""
        return self._truncation

    @property
    def direction_values(self) -> np.ndarray:
        """How far the latent is moved along each direction, in prior standard deviations."""
        return self._direction_values.copy()

    @property
    def strip_seed(self) -> int:
        """The seed at the far end of the interpolation strip."""
        return self._strip_seed

    def state(self) -> dict[str, Any]:
        """Everything that decides the current sample and strip, as plain values."""
        return {
            "seed": self.seed,
            "label": self.label,
            "class_name": None if self.label is None else self.class_names[self.label],
            "truncation": self.truncation,
            "directions": [float(v) for v in self._direction_values],
            "strip_seed": self.strip_seed,
            "options": dict(self.options),
        }

    def set(
        self,
        seed: int | None = None,
        label: int | str | None = None,
        truncation: float | None = KEEP,
        directions: Sequence[float] | None = None,
        strip_seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change several settings at once and return ``state()``.

        ``None`` leaves a setting as it is, except ``truncation``, where ``None``
        turns truncation off (leave it out to keep it). ``label`` is a class index
        or a class name; ``options`` are merged into the sampler's options.
        Everything is checked before anything changes, so a bad value leaves the
        state as it was.
        """
        new_seed = self._seed if seed is None else self._checked_seed("seed", seed)
        new_strip = self._strip_seed if strip_seed is None else self._checked_seed("strip_seed", strip_seed)
        new_label = self._label if label is None else self._checked_label(label)
        new_trunc = self._truncation if truncation is KEEP else self._checked_truncation(truncation)
        new_dirs = self._direction_values if directions is None else self._checked_directions(directions)
        if options is not None:
            self._set_options({**self.options, **options})
        self._seed, self._strip_seed, self._label = new_seed, new_strip, new_label
        self._truncation, self._direction_values = new_trunc, new_dirs
        return self.state()

    def new_seed(self) -> int:
        """Jump to a random seed different from the current one (when there is another) and return it."""
        seed = self._seed
        while self.max_seed > 0 and seed == self._seed:
            seed = int(self._rng.integers(0, self.max_seed + 1))
        self._seed = seed
        return seed

    def reset_directions(self) -> None:
        """Put every direction value back to 0."""
        self._direction_values = np.zeros(len(self.directions), np.float32)

    # -- latents and images ------------------------------------------------

    def base_latent(self, seed: int | None = None) -> np.ndarray:
        """The latent of ``seed`` (default: the current one) at the current truncation, before directions."""
        seed = self._seed if seed is None else self._checked_seed("seed", seed)
        key = (seed, self._truncation)
        if key not in self._latent_cache:
            if len(self._latent_cache) >= _LATENT_CACHE_SIZE:
                self._latent_cache.clear()
            z = self.model.sample_latent(1, seed=seed, truncation=self._truncation)
            self._latent_cache[key] = np.asarray(z, dtype=np.float32).reshape(self.latent_dim)
        return self._latent_cache[key].copy()

    def current_latent(self) -> np.ndarray:
        """The latent shown now: ``base_latent(seed) + direction_values @ directions``."""
        z = self.base_latent()
        if len(self.directions):
            z += self._direction_values @ self.directions
        return z

    def _labels(self, n: int) -> np.ndarray | None:
        return None if self._label is None else np.full((n,), self._label, dtype=np.int32)

    def _generate(self, z: np.ndarray) -> np.ndarray:
        images = self.model.generate_from_latent(z, self._labels(len(z)), **self.options)
        return np.asarray(images, dtype=np.float32)

    def image(self) -> np.ndarray:
        """The current sample: float32 H x W x C in [-1, 1] (generated anew, so it follows a model still training)."""
        return self._generate(self.current_latent()[None])[0]

    def strip_latents(self) -> np.ndarray:
        """``strip_length`` latents along the great circle from the seed's latent to ``strip_seed``'s."""
        ends = self.base_latent(), self.base_latent(self._strip_seed)
        return slerp(*ends, np.linspace(0.0, 1.0, self.strip_length))

    def strip(self) -> np.ndarray:
        """The interpolation strip: ``strip_length`` x H x W x C images, current class, no direction offsets."""
        return self._generate(self.strip_latents())

    # -- nearest real image ------------------------------------------------

    def nearest_real(self, image: np.ndarray | None = None) -> NearestReal:
        """The real image closest to ``image`` (default: the current sample) in L2 pixel distance."""
        if self._reference is None:
            raise ValueError(
                "nearest_real: this explorer has no real images to search; build it with "
                "dataset=<the training ImageSet or an N x H x W x C array>."
            )
        sample = self.image() if image is None else np.asarray(image, dtype=np.float32)
        if sample.shape != (self.image_size, self.image_size, self.channels):
            raise ValueError(
                f"nearest_real: image has shape {sample.shape} but this model's images are "
                f"{(self.image_size, self.image_size, self.channels)}; pass one generated image (H x W x C)."
            )
        flat, norms = self._reference
        local, distance = (a[0] for a in nearest_neighbours(sample[None], flat, reference_norms=norms))
        index = int(local if self.searched_indices is None else self.searched_indices[local])
        class_name = None
        if self._dataset_labels is not None and self._dataset_class_names:
            label = int(self._dataset_labels[index])
            if 0 <= label < len(self._dataset_class_names):
                class_name = self._dataset_class_names[label]
        return NearestReal(
            index=index,
            distance=float(distance),
            image=flat[int(local)].reshape(sample.shape).copy(),
            class_name=class_name,
            searched=len(flat),
            total=len(self.dataset),
        )

    # -- checks: every message names the input, the problem and the fix --------

    def _checked_seed(self, name: str, seed: Any) -> int:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"{name}={seed!r} is not a whole number; use an integer 0…{self.max_seed}.")
        if not 0 <= int(seed) <= self.max_seed:
            wider = f" (or build the explorer with max_seed={int(seed)})" if seed > self.max_seed else ""
            raise ValueError(
                f"{name}={seed} is outside the seed range 0…{self.max_seed}; pick a seed in that range{wider}."
            )
        return int(seed)

    def _checked_label(self, label: int | str) -> int:
        if self.num_classes is None:
            raise ValueError(
                f"label={label!r}: this model is unconditional; it has no classes to choose. Leave label out."
            )
        names = self.class_names or []
        if isinstance(label, str):
            if label not in names:
                raise ValueError(
                    f"label={label!r} is not a class of this model; choose one of {names} "
                    f"(or its index 0…{self.num_classes - 1})."
                )
            return names.index(label)
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise ValueError(f"label={label!r}: give a class index 0…{self.num_classes - 1} or a name from {names}.")
        if not 0 <= int(label) < self.num_classes:
            raise ValueError(f"label={label}: choose a class index 0…{self.num_classes - 1} ({', '.join(names)}).")
        return int(label)

    @staticmethod
    def _checked_truncation(truncation: float | None) -> float | None:
        if truncation is None:
            return None
        try:
            value = float(truncation)
        except (TypeError, ValueError):
            value = float("nan")  # reported below, with the fix
        if not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"truncation={truncation!r} must be a number > 0 (smaller = more typical, less varied "
                "samples), or None to turn truncation off."
            )
        return round(value, 3)  # slider steps: 0.30000000000000004 and 0.3 share one cached latent

    def _checked_directions(self, values: Sequence[float]) -> np.ndarray:
        array = np.asarray(values, dtype=np.float32).reshape(-1)
        if len(array) != len(self.directions):
            raise ValueError(
                f"directions: got {len(array)} values for {len(self.directions)} latent directions; "
                f"give one value per direction (0 = not moved)."
            )
        if not np.isfinite(array).all():
            raise ValueError(f"directions={list(values)} holds a value that is not finite; use finite numbers.")
        return array

    def _set_options(self, options: Mapping[str, Any]) -> None:
        """Accept only options that ``generate_from_latent`` takes by keyword (a typo fails now, not later)."""
        try:
            parameters = inspect.signature(self.model.generate_from_latent).parameters
        except (TypeError, ValueError):  # no signature to read (a C extension): let the call decide
            parameters = {}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        accepted = [n for n, p in parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and n not in ("z", "labels")]
        unknown = [k for k in options if k in ("z", "labels") or (parameters and not takes_any and k not in accepted)]
        if unknown:
            raise ValueError(
                f"options: {', '.join(map(repr, unknown))} is not an option of "
                f"{type(self.model).__name__}.generate_from_latent (it takes "
                f"{', '.join(accepted) or 'no options'}); drop it or use a sampler that has it."
            )
        self.options = dict(options)

    def _check_dataset(self, dataset: Any) -> None:
        name = getattr(dataset, "name", "dataset")
        holds_images = hasattr(dataset, "images")
        if holds_images:
            shape = tuple(np.shape(dataset.pixels if hasattr(dataset, "pixels") else dataset.images))
        else:
            shape = tuple(np.shape(dataset))
        if len(shape) != 4 or shape[0] == 0:
            raise ValueError(
                f"dataset {name!r} has shape {shape}; pass an ImageSet (data.load_dataset) "
                "or an N x H x W x C array of real images in [-1, 1]."
            )
        n, h, w, c = shape
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(
                f"dataset {name!r} holds {h}x{w} px images but the model generates "
                f"{self.image_size}x{self.image_size} px. Load the dataset at the model's size: "
                f"data.load_dataset(..., image_size={self.image_size})."
            )
        if c != self.channels:
            raise ValueError(
                f"dataset {name!r} has {c} channel(s) but the model generates "
                f"{self.channels}. Use a dataset with {self.channels} channel(s) (grey = 1, RGB = 3)."
            )
        class_names = getattr(dataset, "class_names", None)
        if self.num_classes is not None and class_names and len(class_names) != self.num_classes:
            raise ValueError(
                f"dataset {name!r} has {len(class_names)} classes "
                f"({', '.join(map(str, class_names))}) but the conditional model was trained "
                f"with {self.num_classes}. Use the dataset the model was trained on."
            )
        labels = getattr(dataset, "labels", None)
        if labels is not None and np.ndim(labels) == 1:
            self._dataset_labels = np.asarray(labels)
        self._dataset_class_names = list(class_names) if class_names else None
        if self.nearest_max is not None and n > self.nearest_max:
            # a fixed subset (same on every run) keeps each search fast and the memory small
            self.searched_indices = np.sort(np.random.default_rng(0).choice(n, int(self.nearest_max), replace=False))
            if hasattr(dataset, "batch_images"):
                images = dataset.batch_images(self.searched_indices)
            else:
                images = np.asarray(dataset.images if holds_images else dataset)[self.searched_indices]
        else:
            images = dataset.images if holds_images else dataset
        flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
        self._reference = flat, (flat.astype(np.float64) ** 2).sum(1)  # norms once, for every search

    def _resolve_class_names(self, class_names: Sequence[str] | None) -> list[str] | None:
        if self.num_classes is None:
            return None
        # the model's own names, else the caller's, else the dataset's; "class i" placeholders last
        placeholders = [f"class {i}" for i in range(self.num_classes)]
        own = list(self.model.class_names or [])
        for names in (own if own != placeholders else None, class_names, self._dataset_class_names):
            if names is not None and len(names) == self.num_classes:
                return [str(n) for n in names]
        return placeholders

    def __repr__(self) -> str:
        kind = f"{self.num_classes} classes" if self.num_classes else "unconditional"
        return (
            f"LatentExplorer({type(self.model).__name__}, {self.image_size}x{self.image_size}x{self.channels}, "
            f"{kind}, {len(self.directions)} {self.direction_method} directions, state={self.state()})"
        )
