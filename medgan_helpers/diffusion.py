"""A small class-conditional diffusion model beside the GAN (notebook 10).

The forward process adds Gaussian noise to an image over ``T`` steps; a network
learns to predict that noise, and sampling runs the process backwards from pure
noise. The pieces, each from its paper:

- **the cosine schedule** (Nichol & Dhariwal 2021): ᾱ(t) = f(t)/f(0) with
  f(t) = cos²((t/T + s)/(1 + s) · π/2), in closed form (:func:`alpha_bar`,
  :class:`CosineSchedule`), so any noise level is one step away:
  :func:`q_sample` draws x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε;
- **the noise-prediction loss** (Ho et al. 2020): ``losses.noise_prediction_loss``,
  the mean squared error between ε and the denoiser's estimate;
- **classifier-free guidance** (Ho & Salimans 2022): while training, the class of
  a fraction ``label_dropout`` of the images is replaced by the *null class*, so
  the one network also predicts without a class; when sampling,
  ε = ε_uncond + w·(ε_cond − ε_uncond) with the guidance scale w (1 = plain
  conditional, > 1 = more typical of the class, less varied);
- **DDIM sampling** (Song et al. 2021, η = 0): a deterministic reverse path over a
  chosen number of ``steps`` (far fewer than ``T``); the same starting noise gives
  the same image, so the same seed gives the same images.

:class:`Diffusion` is a ``keras.Model`` whose ``train_step`` reads top to bottom
like ``gan.GAN.train_step`` and composes ``losses`` and ``step_parts`` (EMA,
loss scaling, per-replica noise); its network is ``diffusion_models.build_denoiser``.
Both it and :class:`DiffusionSampler` (a trained denoiser on its own, what
``runs.load_generator`` returns for a diffusion run) speak the ``sampling.Sampler``
protocol: the "latent" of an image is its starting noise x_T, flattened
(``latent_dim`` = H·W·C), so ``evaluate()``, the synthetic export and the
explorer take them unchanged, with ``steps`` and ``guidance`` as extra options.
Training into run folders (config.json, EMA weights, history, health file,
sample grids, resume) is ``diffusion_training.train``.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from medgan_helpers import losses, models, runs, step_parts
from medgan_helpers.recipe import DiffusionConfig
from medgan_helpers.sampling import SamplerMixin

# --------------------------------------------------------------------------- the forward process


def alpha_bar(t: Any, timesteps: int = 1000, offset: float = 0.008) -> np.ndarray:
    """ᾱ(t), the fraction of the signal's variance left at step ``t`` (0..T), in closed form (float64).

    Nichol & Dhariwal (2021): ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2). It
    falls from 1 at t = 0 to 0 at t = T, nearly linearly in the middle; the offset s keeps
    the noise of the first steps from being too small to learn from.
    """
    def f(step):
        return np.cos((np.asarray(step, np.float64) / timesteps + offset) / (1.0 + offset) * np.pi / 2) ** 2

    return f(t) / f(0.0)


@dataclasses.dataclass(frozen=True)
class CosineSchedule:
    """The cosine schedule as tables over the steps 0..T (numpy float64).

    ``betas[t - 1]`` is the noise added at step t, 1 − ᾱ(t)/ᾱ(t−1), clipped at 0.999 as in
    the paper (only the last step reaches it: ᾱ(T) = 0); ``alpha_bars[t]`` is their product
    ∏(1 − β), which equals :func:`alpha_bar` for every t < T and stays just above 0 at T.
    """

    timesteps: int = 1000
    offset: float = 0.008

    @cached_property
    def betas(self) -> np.ndarray:
        closed = alpha_bar(np.arange(self.timesteps + 1), self.timesteps, self.offset)
        return np.clip(1.0 - closed[1:] / closed[:-1], 0.0, 0.999)

    @cached_property
    def alpha_bars(self) -> np.ndarray:
        return np.concatenate([[1.0], np.cumprod(1.0 - self.betas)])

    def snr(self, t: Any) -> np.ndarray:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) at steps ``t`` (it falls as t grows)."""
        a = self.alpha_bars[np.asarray(t)]
        return a / (1.0 - a)

    def ddim_times(self, steps: int) -> np.ndarray:
        """The ``steps + 1`` steps a DDIM path visits, evenly spaced from T down to 0 (int)."""
        if not 1 <= int(steps) <= self.timesteps:
            raise ValueError(f"steps={steps!r} must be between 1 and the schedule's {self.timesteps} steps.")
        return np.round(np.linspace(self.timesteps, 0, int(steps) + 1)).astype(np.int32)


def q_sample(x0, t, noise, schedule: CosineSchedule | None = None):
    """x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε: ``x0`` noised to step ``t`` (one int per image) in one go."""
    schedule = schedule or CosineSchedule()
    a = ops.take(ops.convert_to_tensor(schedule.alpha_bars, "float32"), ops.cast(t, "int32"))
    a = ops.reshape(a, (-1, 1, 1, 1))
    return ops.sqrt(a) * ops.cast(x0, "float32") + ops.sqrt(1.0 - a) * ops.cast(noise, "float32")


# --------------------------------------------------------------------------- the reverse process (DDIM)


class DiffusionSampling(SamplerMixin):
    """The sampler protocol by DDIM, on top of ``_sampling_model()`` (the denoiser).

    A subclass provides ``num_classes``, ``_class_names``, ``schedule``, ``steps``,
    ``guidance`` and ``_sampling_model()``. A latent is the starting noise x_T of one
    image, flattened: ``sample_latent`` (and its truncation) is the kit's one.
    """

    schedule: CosineSchedule
    steps: int
    guidance: float
    #: the model family, as runs and data cards name it (``synthetic.model_family``)
    family = "diffusion"

    @property
    def latent_dim(self) -> int:
        return self.image_size * self.image_size * self.channels

    @property
    def null_label(self) -> int:
        """The class id that means "no class" (classifier-free guidance): one past the last class."""
        return int(self.num_classes or 0)

    def generate_from_latent(self, z: np.ndarray, labels: Any = None, batch_size: int = 64, *,
                             steps: int | None = None, guidance: float | None = None) -> np.ndarray:
        """Images (float32 N×H×W×C in [-1, 1]) from starting noises ``z`` [and labels], by DDIM.

        ``steps`` (default ``self.steps``): denoising steps, 1..T; ``guidance`` (default
        ``self.guidance``): the classifier-free guidance scale (ignored when unconditional).
        """
        return self.reverse_path(z, labels, batch_size, steps=steps, guidance=guidance, keep_path=False)[-1]

    def generate(self, n: int, labels: Any = None, seed: int = 0, truncation: float | None = None,
                 batch_size: int = 64, *, steps: int | None = None, guidance: float | None = None) -> np.ndarray:
        """``n`` new images in [-1, 1]; the same seed (and steps, guidance) gives the same images."""
        z = self.sample_latent(n, seed=seed, truncation=truncation)
        return self.generate_from_latent(z, labels, batch_size, steps=steps, guidance=guidance)

    def reverse_path(self, z: np.ndarray, labels: Any = None, batch_size: int = 64, *, steps: int | None = None,
                     guidance: float | None = None, keep_path: bool = True) -> np.ndarray:
        """The DDIM path from x_T = ``z`` to the image: ``steps + 1`` × N×H×W×C (float32), x_T first.

        The intermediate x_t are kept (``keep_path``) for pictures of the reverse process;
        the last entry, clipped to [-1, 1], is what ``generate_from_latent`` returns.
        """
        steps = int(self.steps if steps is None else steps)
        guidance = float(self.guidance if guidance is None else guidance)
        if not math.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance={guidance!r} must be a number >= 0 (1 = no guidance, 0 = unconditional).")
        times = self.schedule.ddim_times(steps)
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z has shape {z.shape}; expected (n, {self.latent_dim}) — use sample_latent(n).")
        ids = self.labels_for(len(z), labels)
        ids = np.full(len(z), self.null_label, np.int32) if ids is None else ids
        guided = bool(self.num_classes) and guidance != 1.0  # else one pass of the network per step
        shape = (self.image_size, self.image_size, self.channels)
        step = self._ddim_step()
        chunks = []
        for start in range(0, len(z), batch_size):
            x = tf.constant(z[start:start + batch_size].reshape(-1, *shape))
            label = tf.constant(ids[start:start + batch_size, None])
            path = [x.numpy()] if keep_path else []
            for t_now, t_next in zip(times[:-1], times[1:]):
                x = step(x, label, tf.constant(t_now), tf.constant(t_next), tf.constant(guidance), guided)
                if keep_path:
                    path.append(x.numpy())
            chunks.append(np.stack(path) if keep_path else x.numpy()[None])
        if not chunks:
            return np.zeros((len(times) if keep_path else 1, 0, *shape), np.float32)
        out = np.concatenate(chunks, axis=1)
        out[-1] = np.clip(out[-1], -1.0, 1.0)
        return out

    def _ddim_step(self):
        """One DDIM step x_t -> x_t' behind a ``tf.function`` (built once per denoiser object)."""
        network = self._sampling_model()
        cached = getattr(self, "_ddim_cache", None)
        if cached is not None and cached[0] is network:
            return cached[1]
        alpha_bars = tf.constant(self.schedule.alpha_bars, tf.float32)
        timesteps, null = float(self.schedule.timesteps), self.null_label

        @tf.function(reduce_retracing=True)
        def step(x, labels, t_now, t_next, guidance, guided):
            time = tf.fill([tf.shape(x)[0], 1], tf.cast(t_now, tf.float32) / timesteps)
            if guided:  # ε = ε_uncond + w (ε_cond − ε_uncond), both from one batch
                both = network([tf.concat([x, x], 0), tf.concat([time, time], 0),
                                tf.concat([labels, tf.fill(tf.shape(labels), null)], 0)], training=False)
                conditional, unconditional = tf.split(tf.cast(both, tf.float32), 2)
                eps = unconditional + guidance * (conditional - unconditional)
            else:
                eps = tf.cast(network([x, time, labels], training=False), tf.float32)
            a_now, a_next = tf.gather(alpha_bars, t_now), tf.gather(alpha_bars, t_next)
            # the clean image this noise estimate implies, kept in the data's range, then re-noised to t'
            x0 = tf.clip_by_value((x - tf.sqrt(1.0 - a_now) * eps) / tf.sqrt(a_now), -1.0, 1.0)
            return tf.sqrt(a_next) * x0 + tf.sqrt(1.0 - a_next) * eps

        object.__setattr__(self, "_ddim_cache", (network, step))  # not a tracked Keras attribute
        return step


# --------------------------------------------------------------------------- the model


@keras.saving.register_keras_serializable(package="medgan")
class Diffusion(DiffusionSampling, keras.Model):
    """A denoiser trained by ``fit`` to predict the noise of x_t, with an EMA copy to sample from.

    All settings live in one :class:`recipe.DiffusionConfig` (``self.config``). The
    denoiser is this family's generator: it fills the run folder's ``generator``
    role (``generator_ema.weights.h5`` holds its moving average) and its optimizer is
    ``g_optimizer``; there is no discriminator (``discriminator``, ``d_optimizer``: None).

    Args:
        network: from ``diffusion_models.build_denoiser``.
        config: a ``recipe.DiffusionConfig`` (``recipe.diffusion_config(...)``); default the recipe.
        **settings: any ``DiffusionConfig`` field, overriding ``config``. Image size,
            channels and the number of classes are read from ``network``. Other
            keyword arguments go to ``keras.Model``.
    """

    def __init__(self, network: keras.Model, *, config: DiffusionConfig | None = None, **kwargs):
        fields = {f.name for f in dataclasses.fields(DiffusionConfig)}
        settings = {name: kwargs.pop(name) for name in list(kwargs) if name in fields}
        super().__init__(**kwargs)
        self.config = _settle_config(config, network, settings)
        self.generator, self.discriminator = network, None
        self.schedule = CosineSchedule(self.config.timesteps, self.config.schedule_offset)
        self.seed_generator = keras.random.SeedGenerator(self.config.seed)
        self.ema_generator = step_parts.ema_copy(network, self.config.ema_decay)  # None without EMA
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "grad_norm")}
        self.g_optimizer = self.d_optimizer = None
        self.built = True  # the denoiser is a built functional model already

    def compile(self, g_optimizer=None, d_optimizer=None, *, loss: str = "mse", jit_compile: bool = False,
                **kwargs):
        """Attach the denoiser's optimizer (default Adam with the config's rate and betas).

        It is wrapped in a ``LossScaleOptimizer`` when the denoiser computes in
        ``mixed_float16`` (``step_parts.for_precision``). ``d_optimizer`` and ``loss``
        exist for the run folder's loader, which compiles every family alike: a
        diffusion model has no D and one loss (``losses.noise_prediction_loss``).
        """
        if d_optimizer is not None or loss != DiffusionConfig.loss:
            raise ValueError(f"a diffusion model has one network and one loss ({DiffusionConfig.loss!r}): "
                             f"got d_optimizer={d_optimizer!r}, loss={loss!r}. Pass only its optimizer.")
        cfg = self.config
        optimizer = g_optimizer or keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        (optimizer,) = step_parts.for_precision(self.generator, optimizer)
        # optimizer=None: Keras' own (an unused RMSprop by default) would only add state to every checkpoint
        super().compile(optimizer=None, jit_compile=bool(jit_compile), **kwargs)
        self.g_optimizer = optimizer
        # Build the optimizer's slots now, so BackupAndRestore / load_weights can restore them.
        self.g_optimizer.build(self.generator.trainable_variables)

    metrics = property(lambda self: list(self.trackers.values()), doc="The trackers, reset every epoch by Keras.")

    def _sampling_model(self):
        """The EMA denoiser (the network itself without EMA): what sampling and ``call`` use."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def call(self, inputs, training=False):
        """Calling the model runs the (EMA) denoiser: ``model([x_t, t / T, labels])`` -> predicted noise."""
        return self._sampling_model()(inputs, training=training)

    # ---- the training step (written out in notebook 10)
    def train_step(self, batch):
        # Reading guide (CONTRIBUTING.md, at most 3 hops): hop 1: a method of this class (unpack,
        #   random_times, update_metrics), q_sample and the schedule of this module,
        #   losses.noise_prediction_loss or a part in step_parts; hop 2: what those call (alpha_bar,
        #   step_parts.gradient_norm). The network is diffusion_models.build_denoiser.
        images, labels = self.unpack(batch)  # labels: class ids (the null class when unconditional)
        batch_size = ops.shape(images)[0]
        net = self.generator

        # 1) Forward process: a random step t and fresh noise per image, x_t from q(x_t | x_0) in closed form.
        t, hide_class = self.random_times(batch_size)
        noise = ops.reshape(step_parts.latent_noise(batch_size, self.latent_dim, self.seed_generator),
                            ops.shape(images))
        noisy_images = q_sample(images, t, noise, self.schedule)

        # 2) Classifier-free guidance: hide the class of some images, so one network also learns without it.
        labels = ops.where(hide_class, self.null_label, labels)

        # 3) Denoiser: predict the noise that was added (mean squared error, Ho et al. 2020).
        time = ops.cast(ops.reshape(t, (-1, 1)), "float32") / self.schedule.timesteps
        with tf.GradientTape() as tape:
            predicted_noise = net([noisy_images, time, labels], training=True)
            loss = losses.noise_prediction_loss(noise, predicted_noise)
            scaled_loss = step_parts.scale_loss(loss, self.g_optimizer)
        grads = tape.gradient(scaled_loss, net.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, net.trainable_weights))

        # 4) Bookkeeping: follow the denoiser with its moving average, report.
        step_parts.update_ema(self.ema_generator, net, self.ema_decay, step=self.g_optimizer.iterations)
        return self.update_metrics(loss, grads)

    # ---- the helpers train_step calls
    def unpack(self, batch):
        """Split a batch into (float32 images, int32 class ids of shape (N, 1))."""
        images, labels = (batch[0], batch[1] if len(batch) > 1 else None) if isinstance(
            batch, (tuple, list)) else (batch, None)
        images = ops.cast(images, "float32")
        if not self.num_classes:
            return images, ops.full((ops.shape(images)[0], 1), self.null_label, "int32")
        if labels is None or (len(labels.shape) > 1 and labels.shape[-1] not in (None, 1)):
            raise ValueError(
                "This diffusion model is conditional (num_classes set) and needs one class id per image, "
                f"but the data has {'no labels' if labels is None else f'labels of shape {labels.shape}'}: "
                "use data.to_tf_dataset on a labelled ImageSet, or train it unconditionally (conditional=False).")
        return images, ops.reshape(ops.cast(labels, "int32"), (-1, 1))

    def random_times(self, batch_size):
        """Per image: a step t, uniform in 1..T, and whether its class is hidden (probability ``label_dropout``).

        Both come from one normal draw per image (``step_parts.latent_noise``, different on
        every replica) turned uniform by the normal CDF Φ(z) = (1 + erf(z/√2)) / 2.
        """
        uniform = 0.5 * (1.0 + ops.erf(step_parts.latent_noise(batch_size, 2, self.seed_generator) / math.sqrt(2.0)))
        steps = self.schedule.timesteps
        t = ops.clip(ops.cast(uniform[:, 0] * steps, "int32") + 1, 1, steps)
        return t, uniform[:, 1:] < self.config.label_dropout

    def update_metrics(self, loss, grads):
        """Running means shown by ``fit``: the loss and the gradient norm (without the loss scale)."""
        self.trackers["loss"].update_state(loss)
        self.trackers["grad_norm"].update_state(step_parts.gradient_norm(grads, self.g_optimizer))
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # ---- its settings (one recipe.DiffusionConfig) and the Keras-style round trip
    num_classes = property(lambda self: self.config.num_classes, doc="None = unconditional.")
    _class_names = property(lambda self: self.config.class_names)
    ema_decay = property(lambda self: self.config.ema_decay)
    steps = property(lambda self: int(self.config.sample_steps), doc="DDIM steps by default.")
    guidance = property(lambda self: float(self.config.guidance), doc="Guidance scale by default.")

    def as_sampler(self, info: dict | None = None) -> DiffusionSampler:
        """The (EMA) denoiser on its own, as a :class:`DiffusionSampler` with this model's defaults."""
        return DiffusionSampler(self._sampling_model(), self.schedule, num_classes=self.num_classes,
                                class_names=self.config.class_names, steps=self.steps, guidance=self.guidance,
                                info=info)

    def get_config(self) -> dict[str, Any]:
        """Keras-style: every setting (``self.config``), JSON-ready, and the denoiser's build settings."""
        return {**self.config.to_dict(), "generator": models.build_settings(self.generator), "discriminator": None}

    @classmethod
    def from_config(cls, config: dict[str, Any] | DiffusionConfig, custom_objects=None) -> Diffusion:
        """Keras-style: the model ``config`` describes (``get_config()`` or a ``DiffusionConfig``), uncompiled;
        a denoiser given as build settings is rebuilt (``models.rebuild``), default the config's own."""
        saved = config.to_dict() if isinstance(config, DiffusionConfig) else dict(config)
        settings = DiffusionConfig.from_dict(saved)
        network = saved.get("generator") or settings.denoiser_settings()
        return cls(network if isinstance(network, keras.Model) else models.rebuild(network), config=settings)


def _settle_config(config: DiffusionConfig | None, network: keras.Model, settings: dict[str, Any]) -> DiffusionConfig:
    """The model's config: ``config`` (default the recipe) with ``settings``, and what the denoiser
    says about the images (size, channels) and the classes (its class embedding holds the null class too)."""
    try:
        classes = int(network.get_layer("class_embedding").input_dim) - 1 or None
    except ValueError:
        raise ValueError(f"{network.name!r} is not a denoiser (no class embedding): build the network with "
                         "diffusion_models.build_denoiser.") from None
    cfg = (config or DiffusionConfig()).replace(**settings)
    if cfg.num_classes not in (None, classes):
        raise ValueError(f"num_classes={cfg.num_classes} but the denoiser was built for {classes}: build it "
                         "with the config's denoiser_settings() (recipe.DiffusionConfig).")
    out = network.outputs[0].shape
    return cfg.replace(image_size=int(out[1]), channels=int(out[-1]), num_classes=classes,
                       class_names=tuple(cfg.class_names or ()))


# --------------------------------------------------------------------------- a trained denoiser on its own


class DiffusionSampler(DiffusionSampling):
    """A trained denoiser with its schedule: the sampler protocol without training.

    What ``runs.load_generator`` returns for a diffusion run (``load_sampler``).
    ``steps`` and ``guidance`` are the defaults of every draw, and may be changed
    (a slider), or passed per call (``generate(..., steps=50, guidance=2.0)``).
    """

    def __init__(self, network: keras.Model, schedule: CosineSchedule, *, num_classes: int | None = None,
                 class_names: Any = None, steps: int = 25, guidance: float = 1.0, info: dict | None = None):
        self.network, self.schedule = network, schedule
        self.num_classes = int(num_classes) if num_classes else None
        self._class_names = tuple(class_names or ())
        self.steps, self.guidance = int(steps), float(guidance)
        schedule.ddim_times(self.steps)  # a bad default fails here, not at the first draw
        self.info: dict[str, Any] = dict(info or {})

    def _sampling_model(self):
        return self.network

    def __repr__(self) -> str:
        kind = f"conditional on {self.num_classes} classes" if self.num_classes else "unconditional"
        return (f"DiffusionSampler({self.image_size}x{self.image_size}x{self.channels}, {kind}, "
                f"steps={self.steps}, guidance={self.guidance})")


# --------------------------------------------------------------------------- run folders


def runs_root() -> Path:
    """Where diffusion runs go: ``<artifacts>/diffusion/`` (apart from the GAN runs that notebooks 04-07 load)."""
    from medgan_helpers import config

    return config.artifacts_dir() / "diffusion"


def load(path: str | Path, compile: bool = True) -> Diffusion:
    """A saved diffusion run back as a :class:`Diffusion` that draws the same images (and, compiled,
    keeps training where it stopped): ``runs.load_model``."""
    return runs.load_model(path, compile=compile, family="diffusion")


def load_sampler(path: str | Path) -> DiffusionSampler:
    """The EMA denoiser of a diffusion run as a :class:`DiffusionSampler` (``runs.load_generator``)."""
    sampler = runs.load_generator(path)
    if not isinstance(sampler, DiffusionSampler):
        raise ValueError(f"{Path(path).name} is not a diffusion run: load it with runs.load_generator "
                         "(mg.load_run), which loads any family.")
    return sampler
