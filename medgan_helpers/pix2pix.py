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
(``callbacks.NaNGuard``; :class:`TranslationGrid` is a ``callbacks.SampleGrid``),
and the run folder (``runs.save_gan`` writes it; :func:`load` rebuilds the
networks in code from the recorded build settings). ``discriminator=None`` gives
the L1-only baseline: the same U-Net, the same step without D.

The networks are in :mod:`medgan_helpers.pix2pix_models`; image-quality metrics
in :mod:`medgan_helpers.evaluation.image_quality`.
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

from medgan_helpers import callbacks, config, losses, pictures, pix2pix_models, runs, step_parts

#: The defaults of notebook 08 and the benchmark (QUICK: what MEDGAN_QUICK=1 shrinks).
RECIPE = {
    "epochs": 12, "batch_size": 16, "max_pairs": None,
    "g_base_filters": 16, "d_base_filters": 16, "max_filters": 128, "n_layers": 2, "upsampling": "transpose",
    "l1_weight": 100.0, "loss": "bce", "ema_decay": 0.999,
    "g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999, "seed": 0,
}
QUICK = {"epochs": 2, "max_pairs": 256, "g_base_filters": 8, "d_base_filters": 8, "max_filters": 32}


def knobs(quick: bool = False, **overrides: Any) -> dict[str, Any]:
    """The pix2pix recipe as a new dict: defaults, then the quick values if asked, then ``overrides``."""
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise ValueError(f"unknown pix2pix knob(s) {unknown}; known knobs: {sorted(RECIPE)}.")
    return {**RECIPE, **(QUICK if quick else {}), **overrides}


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
        g_optimizer = g_optimizer or keras.optimizers.Adam(RECIPE["g_lr"], beta_1=RECIPE["beta_1"])
        if self.adversarial:
            d_optimizer = d_optimizer or keras.optimizers.Adam(RECIPE["d_lr"], beta_1=RECIPE["beta_1"])
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

    def gan_config(self) -> dict[str, Any]:
        """The model's own settings (saved in the run's config.json by ``runs.save_gan``)."""
        source = self.generator.inputs[0].shape
        image = self.generator.outputs[0].shape
        return {"family": "pix2pix", "adversarial": self.adversarial, "l1_weight": self.l1_weight,
                "loss": self.loss_name, "ema_decay": self.ema_decay, "seed": self.seed,
                "input_size": int(source[1]), "in_channels": int(source[-1]),
                "image_size": int(image[1]), "channels": int(image[-1])}


def bicubic(inputs: np.ndarray, image_size: int) -> np.ndarray:
    """The classical baseline: bicubic upsampling to ``image_size`` (``tf.image.resize``), clipped to [-1, 1]."""
    out = tf.image.resize(np.asarray(inputs, np.float32), (image_size, image_size), method="bicubic")
    return np.clip(out.numpy(), -1.0, 1.0)


class TranslationGrid(callbacks.SampleGrid):
    """A ``callbacks.SampleGrid`` for translation: fixed inputs -> rows of inputs, outputs and targets.

    One row per input channel (upsampled to the output size for display), then the
    model's outputs, then the targets: the same pairs after every epoch.
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, folder: str | Path | None = None,
                 every: int = 1, display: bool | str = "auto"):
        super().__init__(folder, n=len(inputs), every=every, display=display)
        self.inputs, self.targets = np.asarray(inputs, np.float32), np.asarray(targets, np.float32)

    def grid_now(self) -> np.ndarray:
        outputs = self.model.translate(self.inputs)
        size = outputs.shape[1]
        shown = bicubic(self.inputs, size) if self.inputs.shape[1] != size else self.inputs
        rows = [shown[..., c : c + 1] for c in range(shown.shape[-1])] + [outputs, self.targets]
        return pictures.image_grid(np.concatenate(rows), columns=len(self.inputs))


def comparison_figure(inputs: np.ndarray, outputs: dict[str, np.ndarray], targets: np.ndarray,
                      indices, title: str = "", error_max: float = 0.5, invented_max: float | None = None):
    """Input, every method's output and the target side by side at the same size and grey scale,
    then each output's error map ``|output - target|`` and its invented-detail map
    (``evaluation.image_quality.invented_detail_map``), each kind on one shared colour scale
    (``invented_max``: its top, the same for several figures; default: this figure's own).

    Returns the matplotlib figure (one block of three rows per index in ``indices``).
    """
    import matplotlib.pyplot as plt

    from medgan_helpers.evaluation import image_quality

    size = targets.shape[1]
    shown = inputs if inputs.shape[1] == size else np.repeat(np.repeat(inputs, size // inputs.shape[1], 1),
                                                             size // inputs.shape[1], 2)  # nearest: see the pixels
    names = list(outputs)
    invented = {(i, n): image_quality.invented_detail_map(outputs[n][i], targets[i]) for i in indices for n in names}
    if invented_max is None:
        invented_max = max(float(np.percentile(m, 99.5)) for m in invented.values()) or 1.0
    cols = len(names) + 2
    fig, axes = plt.subplots(3 * len(indices), cols, figsize=(1.9 * cols, 1.95 * 3 * len(indices)), squeeze=False)
    for block, i in enumerate(indices):
        top, err, inv = axes[3 * block], axes[3 * block + 1], axes[3 * block + 2]
        top[0].imshow(shown[i, ..., 0], cmap="gray", vmin=-1, vmax=1)
        top[0].set_title("input" + (f" ({inputs.shape[1]} px)" if inputs.shape[1] != size else
                                    (" (channel 1)" if inputs.shape[-1] > 1 else "")), fontsize=8)
        for c, name in enumerate(names, start=1):
            top[c].imshow(outputs[name][i, ..., 0], cmap="gray", vmin=-1, vmax=1)
            top[c].set_title(name, fontsize=8)
            e = err[c].imshow(np.abs(outputs[name][i, ..., 0] - targets[i, ..., 0]), cmap="magma", vmin=0, vmax=error_max)
            h = inv[c].imshow(invented[(i, name)], cmap="viridis", vmin=0, vmax=invented_max)
        top[-1].imshow(targets[i, ..., 0], cmap="gray", vmin=-1, vmax=1)
        top[-1].set_title("target (truth)", fontsize=8)
        err[0].text(0.5, 0.5, "|output − target|", ha="center", va="center", fontsize=8)
        inv[0].text(0.5, 0.5, "invented detail", ha="center", va="center", fontsize=8)
        fig.colorbar(e, ax=err[-1], fraction=0.9, label="error")
        fig.colorbar(h, ax=inv[-1], fraction=0.9, label="invented")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- building, training, runs


def build(pairs, cfg: dict, adversarial: bool = True, residual: bool | None = None, scope=None) -> Pix2Pix:
    """G (and D) for a :class:`data.PairedSet`, wrapped in a compiled :class:`Pix2Pix`.

    ``residual`` (default: when the input is smaller than the output, i.e.
    super-resolution) makes G add a correction to the bicubic picture.
    """
    residual = pairs.input_size != pairs.image_size if residual is None else residual
    sizes = dict(input_size=pairs.input_size, max_filters=cfg["max_filters"])
    with scope or tf.distribute.get_strategy().scope():
        G = pix2pix_models.build_unet(pairs.image_size, pairs.inputs.channels, pairs.targets.channels,
                       base_filters=cfg["g_base_filters"], residual=residual, upsampling=cfg["upsampling"],
                       **sizes)
        D = pix2pix_models.build_patch_discriminator(pairs.image_size, pairs.inputs.channels, pairs.targets.channels,
                                      base_filters=cfg["d_base_filters"], n_layers=cfg["n_layers"],
                                      **sizes) if adversarial else None
        model = Pix2Pix(G, D, l1_weight=cfg["l1_weight"], ema_decay=cfg["ema_decay"], seed=cfg["seed"])
        g_opt, d_opt = (keras.optimizers.Adam(cfg[k], beta_1=cfg["beta_1"], beta_2=cfg["beta_2"])
                        for k in ("g_lr", "d_lr"))
        model.compile(g_opt, d_opt, loss=cfg["loss"])
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
    """Build and fit G (and D) on ``pairs`` with the recipe (``knobs``), seeded; returns :class:`Trained`."""
    cfg = knobs(**knob_overrides)
    config.seed_everything(cfg["seed"])
    pairs = evenly_spaced(pairs, cfg["max_pairs"])
    model = build(pairs, cfg, adversarial=adversarial, residual=residual)
    batches = pairs.to_tf_dataset(batch_size=cfg["batch_size"], seed=cfg["seed"])
    start = time.time()
    history = model.fit(batches, epochs=cfg["epochs"], verbose=verbose, shuffle=False,
                        callbacks=[callbacks.NaNGuard(verbose=bool(verbose)), *(callbacks_ or [])])
    steps = int(model.g_optimizer.iterations.numpy())
    return Trained(model, {k: [float(v) for v in vals] for k, vals in history.history.items()},
                   round(time.time() - start, 1), steps)


def runs_root() -> Path:
    """Where translation runs go: ``<artifacts>/pix2pix/`` (apart from the GAN runs of notebooks 04-07)."""
    return config.artifacts_dir() / "pix2pix"


def save(model: Pix2Pix, run: runs.RunFolder | str | Path, **facts: Any) -> runs.RunFolder:
    """Save with ``runs.save_gan`` (weights + the build settings of both networks)."""
    from medgan_helpers import models

    settings = {"generator": models.build_settings(model.generator),
                "discriminator": models.build_settings(model.discriminator) if model.adversarial else None}
    if settings["generator"] is None:
        raise ValueError("save() rebuilds the networks from their build settings: build G with "
                         "pix2pix_models.build_unet (and D with build_patch_discriminator).")
    return runs.save_gan(model, run, model_settings=settings, kind="pix2pix", **facts)


def load(path: str | Path, compile: bool = True) -> Pix2Pix:
    """A saved translation run back as a :class:`Pix2Pix` that translates exactly as before."""
    run = runs.RunFolder(path)
    cfg = run.config
    settings, own = cfg.get("models") or {}, cfg.get("gan") or {}
    if own.get("family") != "pix2pix" or not settings.get("generator"):
        raise ValueError(f"{run.path.name} is not a pix2pix run (use runs.load_gan for GAN runs).")
    G = pix2pix_models.rebuild(settings["generator"])
    D = pix2pix_models.rebuild(settings["discriminator"]) if settings.get("discriminator") else None
    model = Pix2Pix(G, D, l1_weight=own["l1_weight"], ema_decay=own["ema_decay"], seed=own["seed"])
    if compile:
        saved = cfg.get("optimizers") or {}
        g_opt = keras.optimizers.deserialize(saved["g"]) if "g" in saved else None
        d_opt = keras.optimizers.deserialize(saved["d"]) if D is not None and "d" in saved else None
        model.compile(g_opt, d_opt, loss=own["loss"] if own["loss"] in losses.LOSSES else "bce")
        model.load_weights(run.path / runs.GAN_WEIGHTS)
    else:
        model._sampling_model().load_weights(run.path / runs.EMA_WEIGHTS)
    return model
