"""Drawing images from a trained generator: one sampler protocol, latents, directions.

Everything downstream of training — the evaluation, the interactive sampler,
the synthetic export — talks to a generator through one small interface, the
:class:`Sampler` protocol:

- ``latent_dim``, ``num_classes`` (None = unconditional), ``class_names``,
  ``image_size``, ``channels``;
- ``sample_latent(n, seed, truncation)`` -> ``n × latent_dim`` float32 latents;
- ``generate_from_latent(z, labels)`` -> float32 ``N×H×W×C`` images in [-1, 1];
- ``generate(n, labels, seed, truncation)`` -> the same, from a seed.

``labels=None`` means the same thing everywhere: an unconditional model takes
no labels, a conditional one cycles through its classes (0, 1, 2, …, 0, 1, …).

:class:`SamplerMixin` implements the protocol once; ``gan.GAN`` (while training)
and :class:`GeneratorModel` (a trained generator on its own — what
``runs.load_generator`` and the shipped pretrained model return) both use it.
:func:`as_sampler` wraps a bare Keras generator ``Model`` into a
``GeneratorModel``. The generator is called through a ``tf.function``, so one
64 px sample takes a few milliseconds on a CPU (the sliders of notebook 06).

Also here: :func:`ms_per_image` (the sampling cost, timed),
:func:`truncated_normal` (the latent prior, with the truncation trick),
:func:`slerp` (spherical interpolation) and :func:`latent_directions`
(GANSpace-style principal directions of G's response).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Sampler(Protocol):
    """Anything the evaluation, the widgets and the exports can draw images from."""

    latent_dim: int
    num_classes: int | None

    @property
    def class_names(self) -> list[str] | None: ...

    @property
    def image_size(self) -> int: ...

    @property
    def channels(self) -> int: ...

    def sample_latent(self, n: int, seed: int = 0, truncation: float | None = None) -> np.ndarray: ...

    def generate_from_latent(self, z: np.ndarray, labels: Any = None) -> np.ndarray: ...

    def generate(
        self, n: int, labels: Any = None, seed: int = 0, truncation: float | None = None
    ) -> np.ndarray: ...


def ms_per_image(sampler: Sampler, n: int = 16, *, repeats: int = 3, labels: Any = None, **options: Any) -> float:
    """Wall-clock milliseconds per image of ``sampler.generate(n, labels, **options)``.

    One untimed warm-up draw of the same size first (it traces the sampling
    function), then ``repeats`` timed draws from seeds 1, 2, …; the fastest one
    counts, because other jobs sharing the CPU only ever add time. ``options``
    go to ``generate`` (a diffusion sampler's ``steps`` and ``guidance``).
    Notebook 10 and ``benchmarks/diffusion_vs_gan.py`` time sampling with it.
    """
    if n < 1 or repeats < 1:
        raise ValueError(f"ms_per_image: n={n} and repeats={repeats} must both be at least 1.")
    sampler.generate(n, labels=labels, seed=0, **options)
    fastest = float("inf")
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        sampler.generate(n, labels=labels, seed=seed, **options)
        fastest = min(fastest, time.perf_counter() - start)
    return 1000.0 * fastest / n


# --------------------------------------------------------------------------- latents


def truncated_normal(
    n: int, latent_dim: int, seed: int = 0, truncation: float | None = None
) -> np.ndarray:
    """``n`` x ``latent_dim`` float32 latents from N(0, 1), reproducible by ``seed``.

    With ``truncation=t``, entries with ``|z| > t`` are redrawn until none is left
    (the truncation trick: smaller ``t`` -> more typical, less diverse samples;
    ``None`` -> plain normal).
    """
    if truncation is not None and truncation <= 0:
        raise ValueError(f"truncation={truncation!r} must be > 0 (or None for no truncation).")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n), int(latent_dim)))
    if truncation is not None:
        outside = np.abs(z) > truncation
        while outside.any():
            z[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(z) > truncation
    return z.astype(np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between latent vectors ``z0`` and ``z1``.

    Walks along the great circle between the two directions while interpolating
    their lengths linearly, so intermediate latents keep a typical norm for a
    Gaussian prior (a straight line would pass through the low-norm middle of
    the sphere, where the generator saw few latents). ``t`` may be a scalar or an
    array of K values; the result has shape ``z0.shape`` or ``(K, *z0.shape)``.
    Falls back to linear interpolation when the two vectors are (anti)parallel.
    """
    z0 = np.asarray(z0, dtype=np.float64)
    z1 = np.asarray(z1, dtype=np.float64)
    if z0.shape != z1.shape:
        raise ValueError(
            f"slerp: z0 has shape {z0.shape} but z1 has shape {z1.shape}; "
            "pass two latent vectors of the same length."
        )
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 == 0 or n1 == 0:
        out = (1 - ts)[:, None] * z0.ravel() + ts[:, None] * z1.ravel()
    else:
        u0, u1 = z0.ravel() / n0, z1.ravel() / n1
        omega = np.arccos(np.clip(np.dot(u0, u1), -1.0, 1.0))
        if np.sin(omega) < 1e-6:
            direction = (1 - ts)[:, None] * u0 + ts[:, None] * u1
        else:
            direction = (
                np.sin((1 - ts) * omega)[:, None] * u0 + np.sin(ts * omega)[:, None] * u1
            ) / np.sin(omega)
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        out = direction * ((1 - ts) * n0 + ts * n1)[:, None]
    out = out.reshape((len(ts), *z0.shape)).astype(np.float32)
    return out[0] if np.ndim(t) == 0 else out


# --------------------------------------------------------------------------- the protocol, once

# sampler -> (its sampling generator, that generator behind a tf.function). Kept outside
# the objects: an attribute holding a model would make Keras track it as a sub-layer.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SamplerMixin:
    """The sampler protocol, implemented once on top of ``_sampling_model()``.

    A subclass provides ``latent_dim``, ``num_classes``, ``_class_names`` and
    ``_sampling_model()`` (the Keras generator to draw with).
    """

    latent_dim: int
    num_classes: int | None
    _class_names: tuple[str, ...] = ()

    def _sampling_model(self):  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def image_size(self) -> int:
        return int(self._sampling_model().output.shape[1])

    @property
    def channels(self) -> int:
        return int(self._sampling_model().output.shape[-1])

    @property
    def class_names(self) -> list[str] | None:
        if self._class_names:
            return list(self._class_names)
        if self.num_classes:
            return [f"class {i}" for i in range(self.num_classes)]
        return None

    def sample_latent(self, n: int, seed: int = 0, truncation: float | None = None) -> np.ndarray:
        """``n`` latent vectors (n×latent_dim float32), reproducible by ``seed`` (see ``truncated_normal``)."""
        return truncated_normal(n, self.latent_dim, seed=seed, truncation=truncation)

    def labels_for(self, n: int, labels: Any = None) -> np.ndarray | None:
        """One int32 class id per image: None cycles through the classes; a name or id is repeated."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError(
                    "labels were given but this model is unconditional (num_classes=None): "
                    "call it without labels."
                )
            return None
        if labels is None:
            return (np.arange(n) % self.num_classes).astype(np.int32)
        if isinstance(labels, str):
            names = self.class_names or []
            if labels not in names:
                raise ValueError(f"class {labels!r} is not one of {names}.")
            labels = names.index(labels)
        labels = np.asarray(labels)
        if labels.ndim == 0:
            labels = np.full(n, int(labels))
        labels = labels.reshape(-1).astype(np.int32)
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} images: give one label per image.")
        if n and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"labels must be class ids 0..{self.num_classes - 1} ({self.class_names}); "
                f"got {sorted(set(labels.tolist()))}."
            )
        return labels

    def _compiled_generator(self):
        """The sampling generator behind a ``tf.function`` (built once per generator object)."""
        import tensorflow as tf

        model = self._sampling_model()
        cached = _COMPILED.get(self)
        if cached is not None and cached[0] is model:
            return cached[1]
        z_spec = tf.TensorSpec([None, self.latent_dim], tf.float32)
        if self.num_classes:
            label_spec = tf.TensorSpec([None, 1], tf.int32)

            @tf.function(input_signature=[z_spec, label_spec], reduce_retracing=True)
            def call(z, labels):
                return model([z, labels], training=False)
        else:

            @tf.function(input_signature=[z_spec], reduce_retracing=True)
            def call(z):
                return model(z, training=False)

        _COMPILED[self] = (model, call)
        return call

    def generate_from_latent(self, z: np.ndarray, labels: Any = None, batch_size: int = 256) -> np.ndarray:
        """Images (float32 N×H×W×C in [-1, 1]) for given latent vectors [and labels]."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"z has shape {z.shape}; expected (n, {self.latent_dim}) — use sample_latent(n)."
            )
        labels = self.labels_for(len(z), labels)
        if not len(z):
            return np.zeros((0, self.image_size, self.image_size, self.channels), np.float32)
        call = self._compiled_generator()
        out = []
        for start in range(0, len(z), batch_size):
            zb = z[start : start + batch_size]
            if labels is None:
                out.append(np.asarray(call(zb), dtype=np.float32))
            else:
                out.append(np.asarray(call(zb, labels[start : start + batch_size, None]), dtype=np.float32))
        return np.concatenate(out)

    def generate(
        self, n: int, labels: Any = None, seed: int = 0, truncation: float | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """``n`` new images in [-1, 1] (numpy N×H×W×C); the same seed gives the same images.

        ``labels``: None (conditional models cycle through the classes), one class
        id or name for all, or one id per image.
        """
        z = self.sample_latent(n, seed=seed, truncation=truncation)
        return self.generate_from_latent(z, labels, batch_size=batch_size)


# --------------------------------------------------------------------------- generator only


class GeneratorModel(SamplerMixin):
    """A trained generator on its own: the sampler protocol without D or training.

    What ``runs.load_generator`` returns and what the shipped pretrained model
    loads as; also the adapter for any bare Keras generator (``as_sampler``).
    ``latent_dim`` and ``num_classes`` are read from the model when not given:
    the float input of shape ``(latent_dim,)`` is ``z``; a second integer input
    of shape ``(1,)`` is the class label, and the class count comes from the
    label ``Embedding`` (or ``CategoryEncoding``) layer.
    """

    def __init__(
        self,
        generator: Any,
        latent_dim: int | None = None,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        info: dict | None = None,
    ):
        found_latent, conditional = _read_generator_inputs(generator)
        if latent_dim is not None and int(latent_dim) != found_latent:
            raise ValueError(
                f"latent_dim={latent_dim} but the generator takes z of length {found_latent}."
            )
        if conditional and not num_classes:
            num_classes = _infer_num_classes(generator)
            if num_classes is None:
                raise TypeError(
                    f"{generator.name!r} is conditional (it has a label input) but the number of "
                    "classes cannot be read from its layers: pass num_classes=…"
                )
        self.generator = generator
        self.latent_dim = found_latent
        self.num_classes = int(num_classes) if conditional else None
        self._class_names = tuple(class_names) if class_names else ()
        self.info: dict[str, Any] = dict(info or {})

    def _sampling_model(self):
        return self.generator

    def __repr__(self) -> str:
        kind = f"conditional on {self.num_classes} classes" if self.num_classes else "unconditional"
        return (
            f"GeneratorModel({self.image_size}x{self.image_size}x{self.channels}, "
            f"latent_dim={self.latent_dim}, {kind})"
        )


def _read_generator_inputs(generator: Any) -> tuple[int, bool]:
    """(latent_dim, conditional) of a Keras generator, or a TypeError that says what is wrong."""
    inputs = list(getattr(generator, "inputs", None) or [])
    outputs = list(getattr(generator, "outputs", None) or [])
    name = getattr(generator, "name", type(generator).__name__)
    if not inputs or not outputs:
        raise TypeError(
            f"the Keras model {name!r} has no defined inputs/outputs (it was never built). "
            "Use models.build_generator(...), which returns a functional model."
        )
    out_shape = tuple(outputs[0].shape)
    if len(outputs) != 1 or len(out_shape) != 4 or out_shape[1] is None or out_shape[1] != out_shape[2]:
        raise TypeError(
            f"the Keras model {name!r} outputs {[tuple(o.shape) for o in outputs]}, not one "
            "N x H x W x C batch of square images. Pass the *generator* (e.g. gan.generator or "
            "models.build_generator(...)), not the discriminator or another model."
        )
    shapes = [(tuple(t.shape), "int" in str(getattr(t, "dtype", "float32"))) for t in inputs]
    ok = (
        len(shapes) in (1, 2)
        and len(shapes[0][0]) == 2 and shapes[0][0][1] and not shapes[0][1]
        and (len(shapes) == 1 or shapes[1][0][1:] == (1,))
    )
    if not ok:
        raise TypeError(
            f"cannot read the inputs of {name!r}: "
            f"{[(t.name, tuple(t.shape), str(t.dtype)) for t in inputs]}. A generator takes a "
            "latent vector z of shape (latent_dim,) and, when conditional, an integer label of "
            "shape (1,). Pass a generator built by models.build_generator, or a GAN."
        )
    return int(shapes[0][0][1]), len(shapes) == 2


def _infer_num_classes(generator: Any) -> int | None:
    for layer in getattr(generator, "layers", []):
        kind = type(layer).__name__
        if kind == "Embedding":
            return int(layer.input_dim)
        if kind == "CategoryEncoding":
            return int(layer.num_tokens)
        if hasattr(layer, "num_classes"):
            return int(layer.num_classes)
    return None


def as_sampler(
    model: Any, num_classes: int | None = None, class_names: Sequence[str] | None = None
) -> Sampler:
    """``model`` itself if it speaks the :class:`Sampler` protocol, else a ``GeneratorModel`` around it.

    Raises ``TypeError`` naming what is missing when ``model`` is neither.
    """
    if isinstance(model, Sampler):
        return model
    try:
        import keras

        is_keras = isinstance(model, keras.Model)
    except ImportError:  # pragma: no cover - keras is a hard dependency
        is_keras = False
    if is_keras:
        return GeneratorModel(model, num_classes=num_classes, class_names=class_names)
    wanted = ("latent_dim", "num_classes", "class_names", "image_size", "channels",
              "sample_latent", "generate_from_latent", "generate")
    missing = [a for a in wanted if not hasattr(model, a)]
    raise TypeError(
        f"got a {type(model).__name__}, which is neither a Keras generator model nor a model "
        f"with the sampler protocol (it lacks {', '.join(missing)}). Pass a gan.GAN, a "
        "sampling.GeneratorModel (runs.load_generator(...)), or the generator keras.Model itself."
    )


# --------------------------------------------------------------------------- latent directions


def latent_directions(
    model: Any, k: int = 3, method: str = "pca", n_samples: int = 128, seed: int = 1234
) -> tuple[np.ndarray, str, str]:
    """``k`` orthonormal latent directions (k x latent_dim), the method used and a note.

    ``method="pca"``: GANSpace-style: generate images for ``n_samples`` random
    latents, take the principal components of the *images* (G's response), and
    regress the latents onto the component scores; each regression vector,
    orthonormalised, moves the image along one principal mode of variation.
    Falls back to ``"random"`` orthonormal directions when the estimate is
    degenerate (an untrained G whose output barely varies).
    """
    model = as_sampler(model)
    d = int(model.latent_dim)
    k = int(min(k, d))
    if method not in {"pca", "random"}:
        raise ValueError(f"directions={method!r}: use 'pca' or 'random'.")
    rng = np.random.default_rng(seed)
    note = "random orthonormal directions (asked for)"
    if method == "pca" and k > 0:
        n = max(int(n_samples), 4 * k)
        z = np.asarray(model.sample_latent(n, seed=seed), dtype=np.float64)
        labels = rng.integers(0, int(model.num_classes), size=n) if model.num_classes else None
        x = model.generate_from_latent(z.astype(np.float32), labels).reshape(n, -1).astype(np.float64)
        x -= x.mean(axis=0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        total = float((s**2).sum())
        if np.isfinite(s).all() and total > 1e-8 and s[k - 1] > 1e-4 * s[0]:
            scores = x @ vt[:k].T  # n x k principal component scores
            # least squares: z ≈ scores @ B; row i of B moves z along image PC i
            b, *_ = np.linalg.lstsq(scores, z - z.mean(axis=0), rcond=None)
            q, r = np.linalg.qr(b.T)  # orthonormalise, keep each direction's sign
            q = q * np.sign(np.diag(r))[None, :]
            if np.isfinite(q).all():
                explained = (s[:k] ** 2).sum() / total
                note = (
                    f"principal directions of G's response (PCA of {n} generated images, "
                    f"top {k} components explain {explained:.0%} of the pixel variance)"
                )
                return q.T.astype(np.float32), "pca", note
        note = "random orthonormal directions (the PCA estimate was degenerate: the outputs barely vary)"
    q, r = np.linalg.qr(rng.standard_normal((d, max(k, 1))))
    q = q * np.sign(np.diag(r))[None, :]
    return q.T[:k].astype(np.float32), "random", note
