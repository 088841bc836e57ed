"""The ``GAN`` model and its ``train_step`` — the heart of the kit, taught in notebook 04.

``GAN(generator, discriminator, latent_dim, ...)`` is a ``keras.Model`` whose
``train_step`` makes one D update (``d_steps`` of them) and one G update per
batch with ``tf.GradientTape``, keeps an EMA copy of G for sampling, and speaks
the sampler protocol of ``sampling``. The step composes the kit's shared parts
and names each one where it is used:

- ``losses``: the loss pair chosen by name in ``compile`` (the keras-io WGAN-GP
  idiom: ``d_loss_fn`` / ``g_loss_fn``) and the penalties (WGAN-GP, R1, mode seeking);
- ``step_parts``: latent noise, loss scaling, the EMA update, gradient norms;
- ``augment``: DiffAugment of real *and* fake images (Zhao et al. 2020), applied
  to each image with probability ``p``; with ``ada_target`` set, ``p`` is steered
  ADA-style (Karras et al. 2020) by how confidently D calls the real images real.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from medgan_helpers import losses, step_parts
from medgan_helpers.augment import AUGMENT_POLICIES, diff_augment, parse_policy  # noqa: F401 (taught here)
from medgan_helpers.recipe import GANConfig
from medgan_helpers.sampling import SamplerMixin


@keras.saving.register_keras_serializable(package="medgan")
class GAN(SamplerMixin, keras.Model):
    """A generator and a discriminator trained against each other by ``fit``.

    All settings live in one :class:`recipe.GANConfig` (``self.config``), the
    recipe's by default; ``get_config()`` / ``from_config()`` carry it (and the
    build settings of G and D) through a run folder and back.

    Args:
        generator, discriminator: from ``models.build_generator`` / ``build_discriminator``.
        latent_dim: length of ``z`` (default: the generator's first input).
        num_classes: None (unconditional) or the number of classes; then the data
            must yield ``(images, labels)``.
        config: a ``recipe.GANConfig`` (``recipe.gan_config(...)``); default the recipe.
        **settings: any ``GANConfig`` field, overriding ``config``; those the GAN uses:
            ``augment`` (DiffAugment policy: ``"medical"``, another policy name, a list
            of augmentations, or None); ``ada_target`` (None = augment every image; a
            number, 0.6 in the ADA paper and the recipe = adaptive augmentation
            probability ``p``, raised while D calls more than that fraction of augmented
            real images real) and ``ada_images`` (images over which ``p`` can move from
            0 to 1); ``ema_decay`` (None = no EMA: ``generate`` uses G itself);
            ``d_steps`` (D updates per G update); ``gp_weight`` (WGAN-GP gradient
            penalty, 0 = off); ``r1_weight``, ``r1_every`` (R1 penalty and its lazy
            interval); ``diversity_weight`` (mode seeking, Mao et al. 2019: G pays when
            two latents of the same class give nearly the same image); ``seed`` (the
            model's ``keras.random.SeedGenerator``: latents, augmentation);
            ``class_names`` (for pictures and the sampler). Other keyword arguments go
            to ``keras.Model``.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int | None = None,
        num_classes: int | None = None,
        *,
        config: GANConfig | None = None,
        **kwargs,
    ):
        fields = {f.name for f in dataclasses.fields(GANConfig)}
        settings = {name: kwargs.pop(name) for name in list(kwargs) if name in fields}
        super().__init__(**kwargs)
        self.config = _settle_config(config, generator, latent_dim, num_classes, settings)
        _check_players(generator, discriminator, self.config.latent_dim, self.config.num_classes)
        self.generator = generator
        self.discriminator = discriminator
        self.augment_policy = parse_policy(self.config.augment)
        ada_target, ema_decay = self.config.ada_target, self.config.ema_decay
        self.seed_generator = keras.random.SeedGenerator(self.config.seed)
        # ADA's augmentation probability; 1 = always augment (plain DiffAugment)
        self.augment_p = self.add_weight(
            name="augment_p", shape=(), initializer=keras.initializers.Constant(
                0.0 if ada_target is not None else 1.0), trainable=False,
            aggregation="only_first_replica",
        )
        self.ema_generator = step_parts.ema_copy(generator, ema_decay)  # None without EMA
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "d_grad_norm", "g_grad_norm",
                         "real_sign", "augment_p")
        }
        self.loss_name = "hinge"
        self.d_loss_fn, self.g_loss_fn = losses.get("hinge")
        self.built = True  # G and D are built functional models already

    # ---- Keras plumbing
    def compile(
        self,
        g_optimizer=None,
        d_optimizer=None,
        d_loss_fn=None,
        g_loss_fn=None,
        *,
        loss: str = "hinge",
        jit_compile: bool = False,
        **kwargs,
    ):
        """Attach one optimizer per network and the two loss functions.

        Args:
            g_optimizer, d_optimizer: default Adam as in ``recipe.optimizers()``.
                When the models compute in ``mixed_float16`` both are wrapped in a
                ``LossScaleOptimizer`` (``step_parts.for_precision``: one whose replicas agree to skip a step).
            d_loss_fn, g_loss_fn: functions of the logits; by default the pair
                named by ``loss`` (``losses.get``: "hinge", "bce", "wgan-gp").
            jit_compile: compile the step with XLA (``accel.configure()`` says
                when it pays: on a single GPU).
        """
        from medgan_helpers import recipe

        named_d, named_g = losses.get(loss)
        if loss == "wgan-gp" and d_loss_fn is None and not self.gp_weight:
            raise ValueError("loss='wgan-gp' needs a gradient penalty: build GAN(..., gp_weight=10).")
        default_g, default_d = recipe.optimizers() if g_optimizer is None or d_optimizer is None else (None, None)
        g_optimizer, d_optimizer = step_parts.for_precision(
            self.generator, g_optimizer or default_g, d_optimizer or default_d)
        super().compile(jit_compile=bool(jit_compile), **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.d_loss_fn, self.g_loss_fn = d_loss_fn or named_d, g_loss_fn or named_g
        self.loss_name = loss if d_loss_fn is None and g_loss_fn is None else (
            f"{getattr(self.d_loss_fn, '__name__', 'custom')}/{getattr(self.g_loss_fn, '__name__', 'custom')}")
        # Build the optimizer slots now, so BackupAndRestore / load_weights can restore them.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        """The running means the progress bar shows (``self.trackers``), reset every epoch by Keras."""
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        """Calling the model runs the (EMA) generator: ``gan(z)``, ``gan([z, labels])``."""
        return self._sampling_model()(inputs, training=training)

    def _sampling_model(self):
        return self.ema_generator if self.ema_generator is not None else self.generator

    # ---- the training step (written out in notebook 04)
    def train_step(self, batch):
        # Reading guide: every tensor of this step is at most 3 hops away (CONTRIBUTING.md):
        #   hop 1: a name used here: a method of this class (unpack, augment, update_augment_p,
        #          update_metrics), a loss or penalty in `losses` (self.d_loss_fn, self.g_loss_fn:
        #          the pair `losses.get(loss)` chose in compile) or a part in `step_parts`;
        #   hop 2: what those call (augment.diff_augment, losses.input_gradient_norm,
        #          step_parts.gradient_norm);
        #   hop 3: diff_augment's augmentations (augment.py). G and D are the networks of models.py.
        real_images, labels = self.unpack(batch)  # labels is None for an unconditional GAN
        batch_size = ops.shape(real_images)[0]
        G, D = self.generator, self.discriminator
        with_labels = (lambda x: x) if labels is None else (lambda x: [x, labels])

        # 1) Discriminator: score real images high and generated images low.
        for _ in range(self.d_steps):
            z = step_parts.latent_noise(batch_size, self.latent_dim, self.seed_generator)
            fake_images = G(with_labels(z), training=True)
            with tf.GradientTape() as tape:
                real_logits = D(with_labels(self.augment(real_images)), training=True)
                fake_logits = D(with_labels(self.augment(fake_images)), training=True)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                if self.gp_weight:
                    d_loss += self.gp_weight * losses.gradient_penalty(
                        D, real_images, fake_images, labels, seed=self.seed_generator)
                if self.r1_weight:
                    d_loss += self.r1_weight * losses.r1_penalty(
                        D, real_images, labels, every=self.r1_every, step=self.d_optimizer.iterations)
                scaled_loss = step_parts.scale_loss(d_loss, self.d_optimizer)
            d_grads = tape.gradient(scaled_loss, D.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))

        # 2) Generator: make the discriminator score fresh fakes high.
        z = step_parts.latent_noise(batch_size, self.latent_dim, self.seed_generator)
        with tf.GradientTape() as tape:
            fake_images = G(with_labels(z), training=True)
            fake_logits_for_g = D(with_labels(self.augment(fake_images)), training=True)
            g_loss = self.g_loss_fn(fake_logits_for_g)
            if self.diversity_weight:
                g_loss += self.diversity_weight * losses.mode_seeking_penalty(z, fake_images, labels)
            scaled_loss = step_parts.scale_loss(g_loss, self.g_optimizer)
        g_grads = tape.gradient(scaled_loss, G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))

        # 3) Bookkeeping: follow G with its moving average, steer augmentation, report.
        step_parts.update_ema(self.ema_generator, G, self.ema_decay, step=self.g_optimizer.iterations)
        self.update_augment_p(real_logits)
        return self.update_metrics(d_loss, g_loss, real_logits, fake_logits, d_grads, g_grads)

    # ---- the helpers train_step calls (each one idea of notebook 04)
    def unpack(self, batch):
        """Split a batch into (float32 images, int32 labels of shape (N, 1) or None)."""
        images, labels = (batch[0], batch[1] if len(batch) > 1 else None) if isinstance(
            batch, (tuple, list)) else (batch, None)
        if self.num_classes is None:
            return ops.cast(images, "float32"), None
        if labels is None:
            raise ValueError(
                "This GAN is conditional (num_classes set) but the data has no labels: "
                "use data.to_tf_dataset on a labelled ImageSet, or num_classes=None."
            )
        if len(labels.shape) > 1 and labels.shape[-1] not in (None, 1):
            raise ValueError(
                f"Conditional training needs one class id per image; got labels of shape "
                f"{labels.shape} (multi-label, e.g. ChestMNIST). Train unconditionally instead."
            )
        return ops.cast(images, "float32"), ops.reshape(ops.cast(labels, "int32"), (-1, 1))

    def augment(self, images):
        """DiffAugment with the model's policy, each image with probability ``augment_p``."""
        return diff_augment(images, self.augment_policy, seed=self.seed_generator,
                            probability=self.augment_p if self.ada_target is not None else 1.0)

    def update_augment_p(self, real_logits):
        """ADA: raise p while D calls more than ``ada_target`` of the real images real."""
        if self.ada_target is None:
            return
        real_sign = ops.mean(ops.sign(ops.cast(real_logits, "float32")))  # r_t in the ADA paper
        step = ops.cast(ops.shape(real_logits)[0], "float32") / self.ada_images
        new_p = self.augment_p + ops.sign(real_sign - self.ada_target) * step
        self.augment_p.assign(ops.clip(new_p, 0.0, 1.0))

    def update_metrics(self, d_loss, g_loss, real_logits, fake_logits, d_grads, g_grads):
        """Running means shown by ``fit``: losses, D's accuracies, gradient norms, ADA state."""
        real_logits, fake_logits = ops.cast(real_logits, "float32"), ops.cast(fake_logits, "float32")
        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real_acc": ops.mean(ops.cast(real_logits > 0, "float32")),
            "d_fake_acc": ops.mean(ops.cast(fake_logits < 0, "float32")),
            "d_grad_norm": step_parts.gradient_norm(d_grads, self.d_optimizer),
            "g_grad_norm": step_parts.gradient_norm(g_grads, self.g_optimizer),
            "real_sign": ops.mean(ops.sign(real_logits)),
            "augment_p": ops.convert_to_tensor(self.augment_p),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # ---- its settings (one recipe.GANConfig) and the Keras-style round trip
    latent_dim = property(lambda self: self.config.latent_dim, doc="Length of ``z``.")
    num_classes = property(lambda self: self.config.num_classes, doc="None = unconditional.")
    _class_names = property(lambda self: self.config.class_names)
    ada_target = property(lambda self: self.config.ada_target)
    ada_images = property(lambda self: self.config.ada_images)
    ema_decay = property(lambda self: self.config.ema_decay)
    d_steps = property(lambda self: int(self.config.d_steps))
    gp_weight = property(lambda self: float(self.config.gp_weight))
    r1_weight = property(lambda self: float(self.config.r1_weight))
    r1_every = property(lambda self: int(self.config.r1_every))
    diversity_weight = property(lambda self: float(self.config.diversity_weight))
    seed = property(lambda self: int(self.config.seed))

    def get_config(self) -> dict[str, Any]:
        """Keras-style: every setting (``self.config`` with the loss ``compile`` chose), JSON-ready,
        plus the build settings of G and D (``models.build_settings``; None for hand-built networks)."""
        from medgan_helpers import models

        return {**self.config.replace(loss=self.loss_name).to_dict(),
                "generator": models.build_settings(self.generator),
                "discriminator": models.build_settings(self.discriminator)}

    @classmethod
    def from_config(cls, config: dict[str, Any] | GANConfig, custom_objects=None) -> GAN:
        """Keras-style: the GAN that ``config`` (``get_config()``, or a ``GANConfig``) describes, uncompiled.

        ``"generator"`` / ``"discriminator"`` may be networks, or build settings that
        ``models.rebuild`` builds again (default: the config's own, fresh weights).
        """
        from medgan_helpers import models

        saved = config.to_dict() if isinstance(config, GANConfig) else dict(config)
        settings = GANConfig.from_dict(saved)
        defaults = {"generator": settings.generator_settings, "discriminator": settings.discriminator_settings}
        nets = {}
        for role, default in defaults.items():
            found = saved.get(role) or default()
            nets[role] = found if isinstance(found, keras.Model) else models.rebuild(found, role)
        return cls(nets["generator"], nets["discriminator"], config=settings)


def _settle_config(config: GANConfig | None, generator: keras.Model, latent_dim: int | None,
                   num_classes: int | None, settings: dict[str, Any]) -> GANConfig:
    """The GAN's config: ``config`` (default the recipe) with the arguments given, and what G says
    about the images (size, channels) and, without a config, about ``z`` (its length)."""
    changes = dict(settings)
    if latent_dim is not None:
        changes["latent_dim"] = int(latent_dim)
    elif config is None:
        changes["latent_dim"] = int(generator.inputs[0].shape[-1])
    if num_classes is not None:
        changes["num_classes"] = num_classes
    if "class_names" in changes:
        changes["class_names"] = tuple(changes["class_names"] or ())
    out = generator.outputs[0].shape
    changes.setdefault("image_size", int(out[1]))
    changes.setdefault("channels", int(out[-1]))
    return (config or GANConfig()).replace(**changes)


def _check_players(generator, discriminator, latent_dim, num_classes) -> None:
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
