"""The ``GAN`` model with its ``train_step``, callbacks, and saving / loading runs.

The heart of the kit (taught in notebook 04):

- ``GAN(generator, discriminator, latent_dim, ...)`` is a ``keras.Model`` subclass
  whose ``train_step`` does one discriminator update (``d_steps`` of them) and
  one generator update per batch with ``tf.GradientTape``; losses
  ``"hinge"`` / ``"bce"`` (non-saturating) / ``"wgan-gp"``; DiffAugment with
  medical-safe policies; an exponential moving average (EMA) copy of G that
  ``generate`` uses; mixed precision aware.
- The *sampler protocol* (``latent_dim``, ``num_classes``, ``class_names``,
  ``image_size``, ``channels``, ``sample_latent``, ``generate_from_latent``,
  ``generate``) is shared by ``GAN`` and ``GeneratorModel`` (generator only —
  what the shipped pretrained model loads as).
- Runs: ``train`` (one call: data -> trained, saved run), ``default_config``,
  ``save_run`` / ``load_run`` / ``load_generator`` / ``latest_run`` /
  ``load_latest_or_pretrained``.
- Callbacks: ``SampleGrid``, ``NaNGuard``, ``TrainingHealth`` and Keras'
  ``BackupAndRestore`` for resuming an interrupted run.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from medgan_helpers import config, models
from medgan_helpers._training_callbacks import (  # noqa: F401  (re-exported)
    NaNGuard,
    SampleGrid,
    TrainingHealth,
    image_grid,
    sample_diversity,
    save_png,
)

# tf.data pipelines are shuffled by to_tf_dataset / make_dataset; Keras' note about
# its own `shuffle=True` default would only confuse students.
warnings.filterwarnings("ignore", message=r".*`shuffle=True` was passed.*")

# --------------------------------------------------------------------------- losses
# Every loss takes raw logits (no sigmoid) and is computed in float32.


def _f32(x):
    return ops.cast(x, "float32")


def d_loss_bce(real_logits, fake_logits):
    """Binary cross-entropy for D: real -> 1, fake -> 0 (softplus form, numerically safe)."""
    return ops.mean(ops.softplus(-_f32(real_logits))) + ops.mean(ops.softplus(_f32(fake_logits)))


def g_loss_bce(fake_logits):
    """Non-saturating G loss: maximise log D(G(z)) instead of minimising log(1 - D(G(z)))."""
    return ops.mean(ops.softplus(-_f32(fake_logits)))


def d_loss_hinge(real_logits, fake_logits):
    """Hinge loss for D: only real logits below +1 and fake logits above -1 are pushed."""
    return ops.mean(ops.relu(1.0 - _f32(real_logits))) + ops.mean(ops.relu(1.0 + _f32(fake_logits)))


def g_loss_mean(fake_logits):
    """G loss of hinge and WGAN: raise D's score of the fakes."""
    return -ops.mean(_f32(fake_logits))


def d_loss_wasserstein(real_logits, fake_logits):
    """WGAN critic loss (the gradient penalty is added in ``train_step``)."""
    return ops.mean(_f32(fake_logits)) - ops.mean(_f32(real_logits))


#: loss name -> (discriminator loss, generator loss)
LOSSES = {
    "hinge": (d_loss_hinge, g_loss_mean),
    "bce": (d_loss_bce, g_loss_bce),
    "wgan-gp": (d_loss_wasserstein, g_loss_mean),
}

# --------------------------------------------------------------------------- DiffAugment
# Differentiable augmentation (Zhao et al. 2020) applied to real AND fake images
# inside the step, so D never sees a clean image and G's gradients flow through it.
# Medical-safe: no flips (left/right anatomy matters), no hue (grey images).

AUGMENT_POLICIES = {
    "medical": ("translation", "cutout", "brightness", "contrast"),
    "translation": ("translation",),
    "color": ("brightness", "contrast"),
}
_AUGMENTATIONS = ("translation", "cutout", "brightness", "contrast", "flip")


def _parse_policy(augment) -> tuple[str, ...]:
    if augment is None or augment is False or augment == "none":
        return ()
    if isinstance(augment, str):
        if augment in AUGMENT_POLICIES:
            return AUGMENT_POLICIES[augment]
        augment = [a.strip() for a in augment.split(",") if a.strip()]
    unknown = [a for a in augment if a not in _AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"augment={augment!r}: unknown augmentation(s) {unknown}. Use None, a policy "
            f"name ({', '.join(AUGMENT_POLICIES)}) or a list of {', '.join(_AUGMENTATIONS)}."
        )
    return tuple(augment)


def diff_augment(
    images,
    policy: str | tuple | None = "medical",
    seed=None,
    *,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.25,
    brightness: float = 0.1,
    contrast: float = 0.1,
):
    """Randomly augment a batch of images in [-1, 1], differentiably (DiffAugment).

    Args:
        images: N×H×W×C float tensor or array.
        policy: ``"medical"`` (translation, cutout, brightness, contrast), another
            name in ``AUGMENT_POLICIES``, a list of augmentation names, or None.
        seed: an int or a ``keras.random.SeedGenerator``.
        translation_ratio: largest shift as a fraction of the side (gap filled with -1 = black).
        cutout_ratio: side of the zeroed square as a fraction of the side.
        brightness: largest added offset (images span 2.0).
        contrast: largest relative change of contrast around each image's mean.
    """
    x = ops.convert_to_tensor(images)
    policy = _parse_policy(policy)
    if not policy:
        return x
    dtype = x.dtype
    x = ops.cast(x, "float32")
    n = ops.shape(x)[0]
    height, width = int(x.shape[1]), int(x.shape[2])
    if "brightness" in policy:
        x = x + keras.random.uniform((n, 1, 1, 1), -brightness, brightness, seed=seed)
    if "contrast" in policy:
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        factor = keras.random.uniform((n, 1, 1, 1), 1.0 - contrast, 1.0 + contrast, seed=seed)
        x = (x - mean) * factor + mean
    if "translation" in policy:
        x = _translate(x, height, width, translation_ratio, seed)
    if "cutout" in policy:
        x = _cutout(x, height, width, cutout_ratio, seed)
    if "flip" in policy:  # opt-in only
        flip = keras.random.uniform((n, 1, 1, 1), seed=seed) < 0.5
        x = ops.where(flip, ops.flip(x, axis=2), x)
    return ops.cast(x, dtype)


def _translate(x, height, width, ratio, seed):
    pad = max(1, int(round(height * ratio)))
    n = ops.shape(x)[0]
    shift_y = keras.random.randint((n, 1), -pad, pad + 1, seed=seed)
    shift_x = keras.random.randint((n, 1), -pad, pad + 1, seed=seed)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=-1.0)
    rows = ops.arange(height)[None, :] + pad - shift_y  # (N, H) source rows
    cols = ops.arange(width)[None, :] + pad - shift_x
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def _cutout(x, height, width, ratio, seed):
    n = ops.shape(x)[0]
    half_h, half_w = max(1, int(height * ratio / 2)), max(1, int(width * ratio / 2))
    cy = keras.random.randint((n, 1, 1), 0, height, seed=seed)
    cx = keras.random.randint((n, 1, 1), 0, width, seed=seed)
    rows = ops.arange(height)[None, :, None]
    cols = ops.arange(width)[None, None, :]
    inside = (ops.abs(rows - cy) < half_h) & (ops.abs(cols - cx) < half_w)
    return x * ops.cast(~inside, x.dtype)[..., None]


# --------------------------------------------------------------------------- sampling


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


class _SamplerMixin:
    """The sampler protocol: what evaluation and widgets rely on."""

    latent_dim: int
    num_classes: int | None

    def _sampling_model(self) -> keras.Model:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def image_size(self) -> int:
        return int(self._sampling_model().output.shape[1])

    @property
    def channels(self) -> int:
        return int(self._sampling_model().output.shape[-1])

    @property
    def class_names(self) -> list[str] | None:
        names = getattr(self, "_class_names", None)
        if names:
            return list(names)
        if self.num_classes:
            return [f"class {i}" for i in range(self.num_classes)]
        return None

    def sample_latent(self, n: int, seed: int = 0, truncation: float | None = None) -> np.ndarray:
        """``n`` latent vectors (n×latent_dim float32) from N(0, 1), reproducible by ``seed``.

        With ``truncation=t``, entries with ``|z| > t`` are redrawn until none is left
        (the truncation trick: less variety, more typical images).
        """
        return truncated_normal(n, self.latent_dim, seed=seed, truncation=truncation)

    def _labels_for(self, n: int, labels) -> np.ndarray | None:
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
            labels = self._class_index(labels)
        labels = np.asarray(labels)
        if labels.ndim == 0:
            labels = np.full(n, int(labels))
        labels = labels.reshape(-1).astype(np.int32)
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} images: give one label per image.")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(
                f"labels must be class ids 0..{self.num_classes - 1} ({self.class_names}); "
                f"got {sorted(set(labels.tolist()))}."
            )
        return labels

    def _class_index(self, name: str) -> int:
        names = self.class_names or []
        if name not in names:
            raise ValueError(f"class {name!r} is not one of {names}.")
        return names.index(name)

    def generate_from_latent(self, z, labels=None, batch_size: int = 256) -> np.ndarray:
        """Images (float32 N×H×W×C in [-1, 1]) for given latent vectors, by the EMA generator."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"z has shape {z.shape}; expected (n, {self.latent_dim}) — use sample_latent(n)."
            )
        labels = self._labels_for(len(z), labels)
        model = self._sampling_model()
        out = []
        for start in range(0, len(z), batch_size):
            zb = z[start : start + batch_size]
            inputs = zb if labels is None else [zb, labels[start : start + batch_size, None]]
            out.append(np.asarray(model(inputs, training=False), dtype=np.float32))
        if not out:
            return np.zeros((0, self.image_size, self.image_size, self.channels), np.float32)
        return np.concatenate(out)

    def generate(
        self, n: int, labels=None, seed: int = 0, truncation: float | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """``n`` new images in [-1, 1] (numpy N×H×W×C); the same seed gives the same images.

        ``labels``: None (conditional models cycle through the classes), one class
        id or name for all, or one id per image.
        """
        z = self.sample_latent(n, seed=seed, truncation=truncation)
        return self.generate_from_latent(z, labels, batch_size=batch_size)


# --------------------------------------------------------------------------- the GAN


@keras.saving.register_keras_serializable(package="medgan")
class GAN(_SamplerMixin, keras.Model):
    """A generator and a discriminator trained against each other by ``fit``.

    Args:
        generator, discriminator: from ``models.build_generator`` / ``build_discriminator``.
        latent_dim: length of ``z`` (the generator's first input).
        num_classes: None (unconditional) or the number of classes; then the data
            must yield ``(images, labels)``.
        loss: ``"hinge"`` (default), ``"bce"`` (non-saturating) or ``"wgan-gp"``.
        augment: DiffAugment policy: ``"medical"`` (default), another policy name,
            a list of augmentations, or None.
        ema_decay: decay of the generator's exponential moving average
            (None = no EMA; ``generate`` then uses G itself).
        d_steps: discriminator updates per generator update.
        gp_weight: weight of the gradient penalty (``"wgan-gp"`` only).
        seed: seeds the model's ``keras.random.SeedGenerator`` (latents, augmentation).
        class_names: names of the classes, for pictures and the sampler.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        num_classes: int | None = None,
        loss: str = "hinge",
        augment: str | tuple | None = "medical",
        ema_decay: float | None = 0.999,
        d_steps: int = 1,
        gp_weight: float = 10.0,
        seed: int = 0,
        class_names: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r} is not known: use one of {', '.join(LOSSES)}.")
        if int(d_steps) < 1:
            raise ValueError(f"d_steps={d_steps!r} must be >= 1.")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay={ema_decay!r} must be in (0, 1), or None for no EMA.")
        if int(generator.inputs[0].shape[-1]) != latent_dim:
            raise ValueError(
                f"latent_dim={latent_dim} but the generator expects z of length "
                f"{generator.inputs[0].shape[-1]}: pass the same latent_dim to both."
            )
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if (num_classes is not None) != (len(net.inputs) > 1):
                raise ValueError(
                    f"num_classes={num_classes!r} but the {name} is "
                    f"{'conditional' if len(net.inputs) > 1 else 'unconditional'}: build G and D "
                    "with the same num_classes as the GAN."
                )
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.num_classes = num_classes
        self.loss_name = loss
        self.d_loss_fn, self.g_loss_fn = LOSSES[loss]
        self.augment_policy = _parse_policy(augment)
        self.ema_decay = ema_decay
        self.d_steps = int(d_steps)
        self.gp_weight = float(gp_weight)
        self.seed = int(seed)
        self._class_names = tuple(class_names) if class_names else ()
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_generator = None
        if ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "d_grad_norm", "g_grad_norm")
        }
        self.built = True  # G and D are built functional models already

    # ---- Keras plumbing
    def compile(self, g_optimizer=None, d_optimizer=None, jit_compile="auto", **kwargs):
        """Attach one optimizer per network (Adam 2e-4, beta_1=0.5 if not given).

        Under the ``mixed_float16`` policy both are wrapped in
        ``keras.optimizers.LossScaleOptimizer``. ``jit_compile="auto"`` turns XLA on
        only when ``accel.configure()`` chose it (GPUs).
        """
        g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
        d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            g_optimizer, d_optimizer = (
                opt if isinstance(opt, keras.optimizers.LossScaleOptimizer) else keras.optimizers.LossScaleOptimizer(opt)
                for opt in (g_optimizer, d_optimizer)
            )
        if jit_compile == "auto":
            from medgan_helpers import accel

            current = accel.current()
            jit_compile = bool(current and current.xla)
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Build the optimizer slots now, so BackupAndRestore / load_weights can restore them.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        """Calling the GAN runs the (EMA) generator: ``gan(z)`` or ``gan([z, labels])``."""
        return self._sampling_model()(inputs, training=training)

    def _sampling_model(self):
        return self.ema_generator if self.ema_generator is not None else self.generator

    # ---- small helpers used by train_step (each one idea)
    def unpack(self, data):
        """Split a batch into (images, labels); labels None for unconditional training."""
        if isinstance(data, (tuple, list)):
            images, labels = data[0], (data[1] if len(data) > 1 else None)
        else:
            images, labels = data, None
        if self.num_classes is None:
            return ops.cast(images, "float32"), None
        if labels is None:
            raise ValueError(
                "This GAN is conditional (num_classes set) but the data has no labels: "
                "use to_tf_dataset on a labelled ImageSet, or num_classes=None."
            )
        if len(labels.shape) > 1 and labels.shape[-1] not in (None, 1):
            raise ValueError(
                f"Conditional training needs one class id per image; got labels of shape "
                f"{labels.shape} (multi-label, e.g. ChestMNIST). Train unconditionally instead."
            )
        return ops.cast(images, "float32"), ops.reshape(ops.cast(labels, "int32"), (-1, 1))

    def sample_z(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def g_inputs(self, z, labels):
        return z if labels is None else [z, labels]

    def d_inputs(self, images, labels):
        return images if labels is None else [images, labels]

    def augment(self, images):
        return diff_augment(images, self.augment_policy, seed=self.seed_generator)

    def scale_loss(self, loss, optimizer):
        """The loss to differentiate: / replicas (gradients are summed over devices), x loss scale."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return optimizer.scale_loss(loss / replicas)

    def gradient_penalty(self, real_images, fake_images, labels):
        """WGAN-GP: (||grad_x D(x)|| - 1)^2 on random mixes of real and fake images."""
        alpha = keras.random.uniform((ops.shape(real_images)[0], 1, 1, 1), seed=self.seed_generator)
        mixed = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            logits = self.discriminator(self.d_inputs(mixed, labels), training=True)
        grads = _f32(tape.gradient(logits, mixed))
        norm = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)  # safe at 0
        return ops.mean(ops.square(norm - 1.0))

    def update_ema(self):
        """ema_w <- decay * ema_w + (1 - decay) * w (decay ramps up over the first steps)."""
        if self.ema_generator is None:
            return
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            context.merge_call(lambda strategy: self._assign_ema())  # once, across devices
        else:
            self._assign_ema()

    def _assign_ema(self):
        step = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for weight, ema_weight in zip(self.generator.weights, self.ema_generator.weights):
            ema_weight.assign(decay * ema_weight + (1.0 - decay) * ops.cast(weight, ema_weight.dtype))

    def update_metrics(self, d_loss, g_loss, real_logits, fake_logits, d_grads, g_grads):
        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real_acc": ops.mean(ops.cast(_f32(real_logits) > 0, "float32")),
            "d_fake_acc": ops.mean(ops.cast(_f32(fake_logits) < 0, "float32")),
            "d_grad_norm": _grad_norm(d_grads, self.d_optimizer),
            "g_grad_norm": _grad_norm(g_grads, self.g_optimizer),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # ---- the training step (written out in notebook 04)
    def train_step(self, data):
        real_images, labels = self.unpack(data)
        batch_size = ops.shape(real_images)[0]
        G, D = self.generator, self.discriminator

        # 1) Discriminator: score real images high and generated images low.
        for _ in range(self.d_steps):
            fake_images = G(self.g_inputs(self.sample_z(batch_size), labels), training=True)
            with tf.GradientTape() as tape:
                real_logits = D(self.d_inputs(self.augment(real_images), labels), training=True)
                fake_logits = D(self.d_inputs(self.augment(fake_images), labels), training=True)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                if self.loss_name == "wgan-gp":
                    d_loss += self.gp_weight * self.gradient_penalty(real_images, fake_images, labels)
                scaled_loss = self.scale_loss(d_loss, self.d_optimizer)
            d_grads = tape.gradient(scaled_loss, D.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))

        # 2) Generator: make the discriminator score fresh fakes high.
        with tf.GradientTape() as tape:
            fake_images = G(self.g_inputs(self.sample_z(batch_size), labels), training=True)
            g_logits = D(self.d_inputs(self.augment(fake_images), labels), training=True)
            g_loss = self.g_loss_fn(g_logits)
            scaled_loss = self.scale_loss(g_loss, self.g_optimizer)
        g_grads = tape.gradient(scaled_loss, G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))

        # 3) Slowly follow G with its moving average, which generate() uses.
        self.update_ema()
        return self.update_metrics(d_loss, g_loss, real_logits, fake_logits, d_grads, g_grads)

    def gan_config(self) -> dict[str, Any]:
        """The GAN's own settings as JSON-ready values (saved in config.json)."""
        return {
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "loss": self.loss_name,
            "augment": list(self.augment_policy),
            "ema_decay": self.ema_decay,
            "d_steps": self.d_steps,
            "gp_weight": self.gp_weight,
            "seed": self.seed,
            "image_size": self.image_size,
            "channels": self.channels,
        }


def _grad_norm(grads, optimizer):
    grads = [_f32(g) for g in grads if g is not None]
    norm = tf.linalg.global_norm(grads)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / _f32(optimizer.dynamic_scale)
    return norm


# --------------------------------------------------------------------------- generator only


class GeneratorModel(_SamplerMixin):
    """A trained generator on its own — the sampler protocol without D or training.

    What ``load_generator`` returns and what the shipped pretrained model is.
    """

    def __init__(self, generator: keras.Model, latent_dim: int | None = None, num_classes=None, class_names=None, info=None):
        self.generator = generator
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.num_classes = num_classes if num_classes else None
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


# --------------------------------------------------------------------------- runs on disk

RUN_FILES = ("config.json", "generator.keras", "generator_ema.keras", "discriminator.keras")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, default=_json_default))


def save_run(gan: GAN, run_dir: str | Path, history=None, config: dict | None = None) -> Path:
    """Save a trained GAN: G, EMA-G, D (``.keras``), ``config.json``, ``history.json``.

    Also ``gan.weights.h5`` (every weight including both optimizers), so that
    ``load_run`` can continue training exactly where it stopped.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    gan.generator.save(run_dir / "generator.keras")
    gan._sampling_model().save(run_dir / "generator_ema.keras")
    gan.discriminator.save(run_dir / "discriminator.keras")
    if getattr(gan, "g_optimizer", None) is not None:
        gan.save_weights(run_dir / "gan.weights.h5")
    previous = {}
    if (run_dir / "config.json").is_file():
        previous = json.loads((run_dir / "config.json").read_text())
    settings = {**previous, **(config or {}), "gan": gan.gan_config(), "status": "finished"}
    settings.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if getattr(gan, "g_optimizer", None) is not None:
        settings["optimizers"] = {
            "g": keras.optimizers.serialize(_inner(gan.g_optimizer)),
            "d": keras.optimizers.serialize(_inner(gan.d_optimizer)),
        }
    _write_json(run_dir / "config.json", settings)
    if history is not None:
        history = getattr(history, "history", history)
        _write_json(run_dir / "history.json", {k: [float(v) for v in vals] for k, vals in history.items()})
    return run_dir


def _inner(optimizer):
    return optimizer.inner_optimizer if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else optimizer


def _check_run_dir(run_dir: Path, needed=("config.json",)) -> None:
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist: pass a folder made by save_run / train.")
    missing = [f for f in needed if not (run_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run_dir} is not a complete run: {', '.join(missing)} missing. "
            "Pass a folder written by training.save_run (or train), or retrain."
        )


def load_run(run_dir: str | Path, compile: bool = True) -> GAN:
    """Load a saved run back into a ``GAN`` that generates the same images and can keep training."""
    run_dir = Path(run_dir)
    _check_run_dir(run_dir, RUN_FILES)
    settings = json.loads((run_dir / "config.json").read_text())
    gan_cfg = settings["gan"]
    generator = keras.models.load_model(run_dir / "generator.keras", safe_mode=True, compile=False)
    discriminator = keras.models.load_model(run_dir / "discriminator.keras", safe_mode=True, compile=False)
    gan = GAN(
        generator,
        discriminator,
        latent_dim=gan_cfg["latent_dim"],
        num_classes=gan_cfg["num_classes"],
        loss=gan_cfg["loss"],
        augment=tuple(gan_cfg["augment"]) or None,
        ema_decay=gan_cfg["ema_decay"],
        d_steps=gan_cfg["d_steps"],
        gp_weight=gan_cfg.get("gp_weight", 10.0),
        seed=gan_cfg["seed"],
        class_names=gan_cfg.get("class_names"),
    )
    ema = keras.models.load_model(run_dir / "generator_ema.keras", safe_mode=True, compile=False)
    if gan.ema_generator is not None:
        gan.ema_generator.set_weights(ema.get_weights())
    if compile:
        optimizers = settings.get("optimizers") or {}
        g_opt = keras.optimizers.deserialize(optimizers["g"]) if "g" in optimizers else None
        d_opt = keras.optimizers.deserialize(optimizers["d"]) if "d" in optimizers else None
        gan.compile(g_optimizer=g_opt, d_optimizer=d_opt)
        if (run_dir / "gan.weights.h5").is_file():
            gan.load_weights(run_dir / "gan.weights.h5")
    gan.run_dir = run_dir
    return gan


def load_generator(run_dir: str | Path) -> GeneratorModel:
    """Load only the (EMA) generator of a run or of a pretrained folder, as a sampler."""
    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    settings = json.loads((run_dir / "config.json").read_text())
    gan_cfg = settings.get("gan", settings)
    path = run_dir / "generator_ema.keras"
    if not path.is_file():
        path = run_dir / "generator.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no generator_ema.keras or generator.keras.")
    generator = keras.models.load_model(path, safe_mode=True, compile=False)
    return GeneratorModel(
        generator,
        latent_dim=gan_cfg.get("latent_dim"),
        num_classes=gan_cfg.get("num_classes"),
        class_names=gan_cfg.get("class_names"),
        info={"path": str(run_dir), "dataset": settings.get("dataset"), **settings.get("info", {})},
    )


def runs_dir(artifacts_dir: str | Path | None = None) -> Path:
    """``<artifacts>/runs``, where ``train`` puts its runs.

    ``artifacts_dir`` may be an artifacts folder (its ``runs/`` is used) or the
    runs folder itself.
    """
    if artifacts_dir is None:
        return config.artifacts_dir() / "runs"
    path = Path(artifacts_dir)
    return path / "runs" if (path / "runs").is_dir() else path


def _run_settings(run: Path) -> dict:
    try:
        return json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def latest_run(
    artifacts_dir: str | Path | None = None, dataset: str | None = None, image_size: int | None = None
) -> Path | None:
    """The newest finished run (optionally for one dataset and size), or None.

    ``artifacts_dir``: an artifacts folder or its ``runs/`` folder (default
    ``config.artifacts_dir() / "runs"``).
    """
    root = runs_dir(artifacts_dir)
    if not root.is_dir():
        return None
    found = []
    for run in root.iterdir():
        if not all((run / f).is_file() for f in RUN_FILES):
            continue
        settings = _run_settings(run)
        if settings.get("status") != "finished":
            continue
        if dataset is not None and settings.get("dataset") != dataset:
            continue
        if image_size is not None and settings.get("gan", {}).get("image_size") != image_size:
            continue
        found.append(((run / "generator_ema.keras").stat().st_mtime, run.name, run))
    return max(found)[2] if found else None


def load_latest_or_pretrained(dataset: str = "brain-mri", image_size: int = 64) -> tuple[Any, str]:
    """A sampler for ``dataset`` at ``image_size`` and a sentence saying where it came from.

    Order: the newest finished run in ``<artifacts>/runs``; else the shipped
    pretrained generator in ``data/pretrained/<dataset>-<size>``; else a quick
    training run (a couple of minutes on CPU).
    """
    run = latest_run(dataset=dataset, image_size=image_size)
    if run is not None:
        return load_generator(run), f"Loaded your newest run: {run}"
    pretrained = config.pretrained_dir() / f"{dataset}-{image_size}"
    if (pretrained / "config.json").is_file():
        return load_generator(pretrained), f"Loaded the shipped pretrained generator: {pretrained}"
    from medgan_helpers import data

    images = data.load_dataset(dataset, image_size=image_size, split="train")
    gan = train(images, **default_config(quick=True), verbose=0)
    return gan, f"No run or pretrained model found: trained a quick one into {gan.run_dir}"


# --------------------------------------------------------------------------- one-call training


def default_config(quick: bool | None = None) -> dict[str, Any]:
    """The knobs ``train`` uses (``quick`` defaults to ``config.is_quick()``).

    The full setting (30 epochs = 2 250 steps on brain-mri 64 px) draws
    recognisable brain slices in 5-8 minutes on a 2-core CPU; quick mode trains a
    tiny model on 512 images in well under 2 minutes.
    """
    quick = config.is_quick() if quick is None else quick
    cfg = {
        "epochs": 30,
        "batch_size": 32,
        "latent_dim": 64,
        "g_base_filters": 16,
        "d_base_filters": 16,
        "max_filters": 128,
        "loss": "hinge",
        "augment": "medical",
        "ema_decay": 0.999,
        "d_steps": 1,
        "g_lr": 2e-4,
        "d_lr": 2e-4,
        "beta_1": 0.5,
        "beta_2": 0.999,
        "spectral_norm": True,
        "conditional": True,
        "seed": 0,
        "max_images": None,
        "sample_every": 1,
    }
    if quick:
        cfg.update(epochs=3, g_base_filters=8, d_base_filters=8, max_filters=64, max_images=512)
    return cfg


def _as_arrays(imageset):
    """(images float32 [-1,1], labels or None, class names, dataset name)."""
    if isinstance(imageset, np.ndarray):
        return imageset.astype(np.float32), None, None, "array"
    images = np.asarray(imageset.images, dtype=np.float32)
    labels = getattr(imageset, "labels", None)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim > 1:
            labels = None  # multi-label (ChestMNIST): train unconditionally
    return images, labels, list(getattr(imageset, "class_names", []) or []), getattr(imageset, "name", "images")


def _find_unfinished_run(dataset: str, image_size: int, settings: dict | None = None) -> Path | None:
    """The newest interrupted run of this dataset and size made with the same settings."""
    root = runs_dir()
    if not root.is_dir():
        return None
    wanted = json.loads(json.dumps(settings or {}, default=_json_default))
    candidates = []
    for run in root.iterdir():
        found = _run_settings(run)
        if (
            found.get("status") == "running"
            and found.get("dataset") == dataset
            and found.get("image_size") == image_size
            and (run / "backup").is_dir()
            and all(found.get(key) == value for key, value in wanted.items())
        ):
            candidates.append((run.stat().st_mtime, run))
    return max(candidates)[1] if candidates else None


def start_run(
    dataset: str,
    image_size: int,
    run_dir: str | Path | None = None,
    *,
    resume: bool = True,
    settings: dict | None = None,
) -> Path:
    """Create (or find again) the folder of a training run and mark it "running".

    With ``run_dir=None`` and ``resume=True``, an unfinished run of the same
    dataset, size and ``settings`` (one interrupted mid-training, whose ``backup/`` folder
    ``keras.callbacks.BackupAndRestore`` left behind) is continued; otherwise a
    new ``<artifacts>/runs/<dataset>-<size>px-<time>/`` is made.
    """
    if run_dir is None and resume:
        run_dir = _find_unfinished_run(dataset, image_size, settings)
        if run_dir is not None:
            print(f"Resuming the interrupted run {run_dir}")
    if run_dir is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        # folder-safe name: "folder:/data/my scans" -> "folder-my_scans"
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset.replace("folder:", "folder-")).strip("_")
        run_dir = runs_dir() / f"{slug}-{image_size}px-{stamp}"
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume and (run_dir / "backup").exists():
        import shutil

        shutil.rmtree(run_dir / "backup")
    previous = _run_settings(run_dir)
    record = {
        **previous,
        **(settings or {}),
        "dataset": dataset,
        "image_size": image_size,
        "status": "running",
        "created": previous.get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_json(run_dir / "config.json", record)
    return run_dir


def train(
    imageset,
    run_dir: str | Path | None = None,
    *,
    callbacks: list | None = None,
    verbose: int | str = "auto",
    resume: bool = True,
    display: bool | str = "auto",
    **knobs,
) -> GAN:
    """Train a GAN on an ``ImageSet`` (or an N×H×W×C array in [-1, 1]) and save the run.

    Knobs are those of ``default_config()`` (unknown names raise an error).
    The run goes to ``run_dir`` or ``<artifacts>/runs/<dataset>-<size>px-<time>/``
    with sample grids per epoch, ``health.json`` and ``history.json``. If a
    previous call was interrupted (kernel died, Colab disconnected), calling
    ``train`` again with the same data continues that run from its last epoch
    (``resume=False`` starts afresh).

    Returns the trained ``GAN``; ``gan.run_dir`` is where it was saved and
    ``gan.history.history`` holds the per-epoch losses and health numbers.
    """
    from medgan_helpers import accel

    cfg = default_config()
    unknown = sorted(set(knobs) - set(cfg))
    if unknown:
        raise ValueError(f"unknown training knob(s) {unknown}; known knobs: {sorted(cfg)}.")
    cfg.update(knobs)
    images, labels, class_names, dataset = _as_arrays(imageset)
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images have shape {images.shape}; expected N×H×W×C square images.")
    if cfg["max_images"]:
        keep = np.random.default_rng(cfg["seed"]).permutation(len(images))[: cfg["max_images"]]
        keep.sort()
        images = images[keep]
        labels = labels[keep] if labels is not None else None
    image_size, channels = int(images.shape[1]), int(images.shape[-1])
    if len(images) < cfg["batch_size"]:
        raise ValueError(
            f"only {len(images)} images but batch_size={cfg['batch_size']}: lower batch_size."
        )
    conditional = bool(cfg["conditional"] and labels is not None and len(class_names or []) >= 2)
    num_classes = len(class_names) if conditional else None

    settings = {"num_images": len(images), "knobs": cfg}
    run_dir = start_run(dataset, image_size, run_dir=run_dir, resume=resume, settings=settings)
    settings = _run_settings(run_dir)

    config.seed_everything(cfg["seed"])
    setup = accel.configure(verbose=False)
    with setup.strategy.scope():
        generator = models.build_generator(
            image_size, channels, cfg["latent_dim"], num_classes,
            base_filters=cfg["g_base_filters"], max_filters=cfg["max_filters"],
        )
        discriminator = models.build_discriminator(
            image_size, channels, num_classes,
            base_filters=cfg["d_base_filters"], max_filters=cfg["max_filters"],
            spectral_norm=cfg["spectral_norm"],
        )
        gan = GAN(
            generator, discriminator, cfg["latent_dim"], num_classes, loss=cfg["loss"],
            augment=cfg["augment"], ema_decay=cfg["ema_decay"], d_steps=cfg["d_steps"],
            seed=cfg["seed"], class_names=class_names if conditional else None,
        )
        gan.compile(
            g_optimizer=keras.optimizers.Adam(cfg["g_lr"], beta_1=cfg["beta_1"], beta_2=cfg["beta_2"]),
            d_optimizer=keras.optimizers.Adam(cfg["d_lr"], beta_1=cfg["beta_1"], beta_2=cfg["beta_2"]),
        )
    dataset_tf = make_dataset(images, labels if conditional else None, cfg["batch_size"], cfg["seed"])
    health = TrainingHealth(real_images=images, log_path=run_dir / "health.json", verbose=verbose != 0)
    guard = NaNGuard()
    all_callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        SampleGrid(run_dir, n=4 * (num_classes or 4), every=cfg["sample_every"], display=display),
        health,
        guard,
        *(callbacks or []),
    ]
    start = time.time()
    gan.fit(dataset_tf, epochs=cfg["epochs"], callbacks=all_callbacks, verbose=verbose)
    settings["seconds"] = round(time.time() - start, 1)
    settings["steps_per_epoch"] = len(images) // cfg["batch_size"]
    settings["device"] = setup.device
    if guard.triggered:
        settings["nan_guard"] = guard.message
    history = _read_csv_history(run_dir / "history.csv")
    save_run(gan, run_dir, history=history, config=settings)
    gan.run_dir = run_dir
    gan.sample_grid = all_callbacks[2]
    gan.health = health
    gan.nan_guard = guard
    return gan


def _read_csv_history(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    rows = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows[int(row["epoch"])] = row  # a resumed epoch replaces its first attempt
    history: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key == "epoch" or key.startswith("val_"):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            history.setdefault(key, []).append(number)
    return history


def make_dataset(images: np.ndarray, labels: np.ndarray | None, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """A shuffled, batched ``tf.data`` pipeline of images (and int labels)."""
    items = images if labels is None else (images, labels.astype(np.int32))
    ds = tf.data.Dataset.from_tensor_slices(items)
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
