"""Image-to-image translation with a conditional GAN (pix2pix), taught in notebook 08.

``Pix2Pix(generator, discriminator, l1_weight=100)`` is a ``keras.Model`` whose
``train_step`` makes, per batch of ``(inputs, targets)`` pairs:

1. one update of the PatchGAN D: (input, real target) scored high, (input, G(input)) low;
2. one update of the U-Net G: fool D **and** stay close to the target pixel by
   pixel, ``g_loss = adversarial + λ · L1`` with ``λ = l1_weight`` (100 in pix2pix);
3. the kit's bookkeeping: EMA generator, metrics.

It shares the kit's machinery with ``gan.GAN``: the loss pair named in
``compile`` (``losses.get``), loss scaling, the EMA update and gradient norms
(``step_parts``: several replicas, ``mixed_float16``), the callbacks
(``callbacks.NaNGuard``), and the run folder (``runs.save_model`` writes it;
:func:`load` rebuilds the networks in code from the recorded build settings). ``discriminator=None`` gives
the L1-only baseline: the same U-Net, the same step without D.

Its settings are a ``recipe.Pix2PixConfig`` (``recipe.pix2pix_config``). The
networks (and the bicubic baseline) are in :mod:`medgan_helpers.pix2pix_models`;
its pictures (``TranslationGrid``, ``comparison_figure``) in
:mod:`medgan_helpers.pix2pix_views`; image-quality metrics in
:mod:`medgan_helpers.evaluation.image_quality`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from medgan_helpers import callbacks, config, losses, models, recipe, runs, step_parts
from medgan_helpers.pix2pix_models import bicubic  # noqa: F401 (notebook 08's name for the baseline)
from medgan_helpers.pix2pix_views import TranslationGrid, comparison_figure  # noqa: F401 (notebook 08's names)

_RECIPE = recipe.Pix2PixConfig()  # compile's default optimizers use the recipe's rates


def knobs(quick: bool = False, **overrides: Any) -> dict[str, Any]:
    """The pix2pix recipe's knobs as a new dict: ``recipe.pix2pix_config(quick, **overrides).knobs()``."""
    return recipe.pix2pix_config(quick, **overrides).knobs()


@keras.saving.register_keras_serializable(package="medgan")
class Pix2Pix(keras.Model):
    """A U-Net G and a conditional PatchGAN D trained by ``fit`` on ``(inputs, targets)`` batches.

    Args:
        generator: from ``pix2pix_models.build_unet``.
        discriminator: from ``pix2pix_models.build_patch_discriminator``, or None for
            the L1-only baseline (no adversarial term, no D).
        l1_weight: λ, the weight of the pixel-wise L1 loss next to the adversarial one.
        ema_decay: decay of the generator's moving average (None: translate with G itself).
        seed: recorded with the run (the step draws no random numbers; the order of
            the pairs comes from the data pipeline's seed, the weights from
            ``config.seed_everything``).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model | None = None,
                 l1_weight: float = 100.0, ema_decay: float | None = 0.999, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if discriminator is not None and len(discriminator.inputs) != 2:
            raise ValueError("the discriminator must take [source, image] (build_patch_discriminator).")
        if l1_weight < 0:
            raise ValueError(f"l1_weight={l1_weight!r} must be >= 0.")
        self.generator, self.discriminator = generator, discriminator
        self.l1_weight, self.ema_decay, self.seed = float(l1_weight), ema_decay, int(seed)
        self.ema_generator = step_parts.ema_copy(generator, ema_decay)  # None without EMA (checks the decay)
        names = ["l1", "g_loss", "g_grad_norm"]
        if discriminator is not None:
            names += ["g_adversarial", "d_loss", "d_real_acc", "d_fake_acc", "d_grad_norm"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.loss_name = "l1-only" if discriminator is None else "bce"
        self.d_loss_fn, self.g_loss_fn = losses.get("bce")
        self.d_optimizer = None
        self.built = True

    @property
    def adversarial(self) -> bool:
        """True for pix2pix, False for the L1-only baseline."""
        return self.discriminator is not None

    def compile(self, g_optimizer=None, d_optimizer=None, d_loss_fn=None, g_loss_fn=None, *,
                loss: str = "bce", jit_compile: bool = False, **kwargs):
        """One Adam per network (recipe rates) and the kit's loss pair named by ``loss``.

        As in ``gan.GAN.compile``: optimizers are wrapped in a ``LossScaleOptimizer``
        (``step_parts.for_precision``: its replicas agree to skip a step whose gradients overflow
        on any of them) when the networks compute in ``mixed_float16``; ``d_loss_fn``/``g_loss_fn``
        replace the named pair.
        """
        if loss not in losses.LOSSES or loss == "wgan-gp":
            raise ValueError(f"loss={loss!r}: pix2pix uses 'bce' (as in the paper) or 'hinge'.")
        named_d, named_g = losses.get(loss)
        g_optimizer = g_optimizer or keras.optimizers.Adam(_RECIPE.g_lr, beta_1=_RECIPE.beta_1)
        if self.adversarial:
            d_optimizer = d_optimizer or keras.optimizers.Adam(_RECIPE.d_lr, beta_1=_RECIPE.beta_1)
        g_optimizer, d_optimizer = step_parts.for_precision(self.generator, g_optimizer, d_optimizer)
        super().compile(jit_compile=bool(jit_compile), **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer if self.adversarial else None
        self.d_loss_fn, self.g_loss_fn = d_loss_fn or named_d, g_loss_fn or named_g
        self.loss_name = "l1-only" if not self.adversarial else loss
        self.g_optimizer.build(self.generator.trainable_variables)
        if self.adversarial:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    # ---- the training step (written out in notebook 08)
    def train_step(self, batch):
        inputs, targets = self.unpack(batch)
        G, D = self.generator, self.discriminator  # D is None for the L1-only baseline

        # 1) Discriminator: (input, real target) should score high, (input, G(input)) low.
        if D is not None:
            fakes = G(inputs, training=True)
            with tf.GradientTape() as tape:
                real_logits = D([inputs, targets], training=True)
                fake_logits = D([inputs, fakes], training=True)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                scaled_loss = step_parts.scale_loss(d_loss, self.d_optimizer)
            d_grads = tape.gradient(scaled_loss, D.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))

        # 2) Generator: stay close to the target pixel by pixel (L1) and fool D.
        with tf.GradientTape() as tape:
            fakes = G(inputs, training=True)
            l1_loss = ops.mean(ops.abs(targets - ops.cast(fakes, "float32")))
            g_loss = self.l1_weight * l1_loss
            if D is not None:
                fake_logits_for_g = D([inputs, fakes], training=True)
                g_adversarial = self.g_loss_fn(fake_logits_for_g)
                g_loss += g_adversarial
            scaled_loss = step_parts.scale_loss(g_loss, self.g_optimizer)
        g_grads = tape.gradient(scaled_loss, G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))

        # 3) Bookkeeping: follow G with its moving average, report.
        step_parts.update_ema(self.ema_generator, G, self.ema_decay, step=self.g_optimizer.iterations)
        values = {"l1": l1_loss, "g_loss": g_loss, "g_grad_norm": step_parts.gradient_norm(g_grads, self.g_optimizer)}
        if D is not None:
            values.update(self.discriminator_metrics(g_adversarial, d_loss, real_logits, fake_logits, d_grads))
        return self.update_metrics(values)

    # ---- the helpers train_step calls
    def unpack(self, batch):
        """Split a batch into float32 ``(inputs, targets)``."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("pix2pix trains on (inputs, targets) pairs: use data.PairedSet.to_tf_dataset().")
        return ops.cast(batch[0], "float32"), ops.cast(batch[1], "float32")

    def discriminator_metrics(self, g_adversarial, d_loss, real_logits, fake_logits, d_grads):
        """D's numbers for the progress bar: its loss, patch accuracies, gradient norm."""
        return {
            "g_adversarial": g_adversarial,
            "d_loss": d_loss,
            "d_real_acc": ops.mean(ops.cast(ops.cast(real_logits, "float32") > 0, "float32")),
            "d_fake_acc": ops.mean(ops.cast(ops.cast(fake_logits, "float32") < 0, "float32")),
            "d_grad_norm": step_parts.gradient_norm(d_grads, self.d_optimizer),
        }

    def update_metrics(self, values: dict):
        """Running means shown by ``fit``.

        Gradient norms average over the steps that were applied: under mixed precision
        a step whose scaled gradients overflowed is skipped (and the loss scale halved),
        and its infinite norm is left out instead of turning the mean into inf.
        """
        for name, value in values.items():
            if name.endswith("grad_norm"):
                finite = ops.isfinite(value)
                self.trackers[name].update_state(ops.where(finite, value, 0.0), ops.cast(finite, "float32"))
            else:
                self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    metrics = property(lambda self: list(self.trackers.values()), doc="The trackers, reset every epoch by Keras.")

    # ---- using it
    def call(self, inputs, training=False):
        """``pix2pix(x)`` translates ``x`` with the EMA generator (G itself without EMA)."""
        return self._sampling_model()(inputs, training=training)

    def _sampling_model(self):
        return self.generator if self.ema_generator is None else self.ema_generator

    def translate(self, inputs: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Outputs for ``inputs`` (float32 in [-1, 1]) from the EMA generator, clipped to [-1, 1]."""
        model = self._sampling_model()
        x = np.asarray(inputs, np.float32)
        out = [np.asarray(model(x[i : i + batch_size], training=False), np.float32)
               for i in range(0, len(x), batch_size)]
        return np.clip(np.concatenate(out), -1.0, 1.0)

    # ---- its settings (one recipe.Pix2PixConfig) and the Keras-style round trip
    @property
    def config(self) -> recipe.Pix2PixConfig:
        """The model's settings: the config it was built from (``from_config``; else the recipe's)
        with what the model itself holds (λ, EMA, seed, loss, the networks' sizes)."""
        source, image = self.generator.inputs[0].shape, self.generator.outputs[0].shape
        made = models.build_settings(self.generator) or {}
        return (getattr(self, "_built_from", None) or _RECIPE).replace(
            l1_weight=self.l1_weight, ema_decay=self.ema_decay, seed=self.seed, adversarial=self.adversarial,
            loss=self.loss_name if self.adversarial else (getattr(self, "_built_from", None) or _RECIPE).loss,
            input_size=int(source[1]), in_channels=int(source[-1]), image_size=int(image[1]),
            channels=int(image[-1]), residual=bool(made.get("residual", False)))

    def get_config(self) -> dict[str, Any]:
        """Keras-style: every setting (``self.config``), JSON-ready, and the networks' build settings."""
        return {**self.config.to_dict(), "generator": models.build_settings(self.generator),
                "discriminator": models.build_settings(self.discriminator) if self.adversarial else None}

    @classmethod
    def from_config(cls, config: dict[str, Any] | recipe.Pix2PixConfig, custom_objects=None) -> Pix2Pix:
        """Keras-style: the model ``config`` describes (``get_config()`` or a ``Pix2PixConfig``), uncompiled;
        networks given as build settings are rebuilt (``models.rebuild``), default the config's own."""
        saved = config.to_dict() if isinstance(config, recipe.Pix2PixConfig) else dict(config)
        settings = recipe.Pix2PixConfig.from_dict(saved)
        nets = [saved.get("generator") or settings.unet_settings(),
                saved.get("discriminator") or settings.patch_discriminator_settings()]
        G, D = (net if net is None or isinstance(net, keras.Model) else models.rebuild(net) for net in nets)
        model = cls(G, D, l1_weight=settings.l1_weight, ema_decay=settings.ema_decay, seed=settings.seed)
        model._built_from = settings
        return model


# --------------------------------------------------------------------------- building, training, runs


def build(pairs, cfg: recipe.Pix2PixConfig | dict, adversarial: bool = True, residual: bool | None = None,
          scope=None) -> Pix2Pix:
    """G (and D) for a :class:`data.PairedSet` from ``cfg`` (a config, or its knobs), in a compiled :class:`Pix2Pix`.

    ``residual`` (default: when the input is smaller than the output, i.e.
    super-resolution) makes G add a correction to the bicubic picture.
    """
    cfg = cfg if isinstance(cfg, recipe.Pix2PixConfig) else recipe.pix2pix_config(**cfg)
    cfg = cfg.replace(image_size=pairs.image_size, input_size=pairs.input_size, in_channels=pairs.inputs.channels,
                      channels=pairs.targets.channels, adversarial=adversarial,
                      residual=pairs.input_size != pairs.image_size if residual is None else residual)
    with scope or tf.distribute.get_strategy().scope():
        model = Pix2Pix.from_config(cfg)
        model.compile(*recipe.optimizers(cfg), loss=cfg.loss)
    return model


def evenly_spaced(pairs, max_pairs: int | None):
    """At most ``max_pairs`` evenly spaced pairs (every k-th; all of them when None)."""
    if not max_pairs or len(pairs) <= max_pairs:
        return pairs
    return pairs.subset(np.floor(np.arange(max_pairs) * len(pairs) / max_pairs).astype(np.int64))


@dataclass
class Trained:
    """A trained translation model, its history and how long it took."""

    model: Pix2Pix
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0


def train(pairs, *, adversarial: bool = True, callbacks_: list | None = None, verbose: int = 0,
          residual: bool | None = None, **knob_overrides: Any) -> Trained:
    """Build and fit G (and D) on ``pairs`` with the recipe (``recipe.pix2pix_config``), seeded."""
    cfg = recipe.pix2pix_config(**knob_overrides)
    config.seed_everything(cfg.seed)
    pairs = evenly_spaced(pairs, cfg.max_pairs)
    model = build(pairs, cfg, adversarial=adversarial, residual=residual)
    batches = pairs.to_tf_dataset(batch_size=cfg.batch_size, seed=cfg.seed)
    start = time.time()
    history = model.fit(batches, epochs=cfg.epochs, verbose=verbose, shuffle=False,
                        callbacks=[callbacks.NaNGuard(verbose=bool(verbose)), *(callbacks_ or [])])
    steps = int(model.g_optimizer.iterations.numpy())
    return Trained(model, {k: [float(v) for v in vals] for k, vals in history.history.items()},
                   round(time.time() - start, 1), steps)


def runs_root() -> Path:
    """Where translation runs go: ``<artifacts>/pix2pix/`` (apart from the GAN runs of notebooks 04-07)."""
    return config.artifacts_dir() / "pix2pix"


def save(model: Pix2Pix, run: runs.RunFolder | str | Path, **facts: Any) -> runs.RunFolder:
    """Save into a run folder (``runs.save_model``: weights + the build settings of both networks)."""
    return runs.save_model(model, run, **{"kind": "pix2pix", **facts})


def load(path: str | Path, compile: bool = True) -> Pix2Pix:
    """A saved translation run back as a :class:`Pix2Pix` that translates exactly as before (``runs.load_model``)."""
    return runs.load_model(path, compile=compile, family="pix2pix")
