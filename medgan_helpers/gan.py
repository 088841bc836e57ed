"""The ``GAN`` model and its ``train_step`` — the heart of the kit, taught in notebook 04.

- Losses are plain functions of D's raw scores (logits), passed to
  ``GAN.compile`` as ``d_loss_fn`` / ``g_loss_fn`` (the keras-io WGAN-GP idiom);
  ``LOSSES`` names the three pairs the kit teaches.
- ``diff_augment`` (from ``augment``): differentiable augmentation of real *and* fake images
  (DiffAugment, Zhao et al. 2020), applied to each image with probability
  ``p``; with ``ada_target`` set, ``p`` is steered ADA-style (Karras et al.
  2020) by how confidently D calls the real images real.
- ``TrainStepHelpers``: loss scaling, per-replica latent noise and the EMA
  generator, shared by every ``train_step`` of the kit (``GAN`` here, ``pix2pix.Pix2Pix``).
- ``GAN(generator, discriminator, latent_dim, ...)`` is a ``keras.Model`` whose
  ``train_step`` makes one D update (``d_steps`` of them) and one G update per
  batch with ``tf.GradientTape``, keeps an EMA copy of G for sampling, and
  speaks the sampler protocol of ``sampling``.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from medgan_helpers.augment import AUGMENT_POLICIES, diff_augment, parse_policy  # noqa: F401 (taught here)
from medgan_helpers.sampling import SamplerMixin

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


def g_loss_saturating(fake_logits):
    """The original minimax G loss, log(1 - D(G(z))): its gradient vanishes when D wins."""
    return -ops.mean(ops.softplus(_f32(fake_logits)))


def d_loss_hinge(real_logits, fake_logits):
    """Hinge loss for D: only real logits below +1 and fake logits above -1 are pushed."""
    return ops.mean(ops.relu(1.0 - _f32(real_logits))) + ops.mean(ops.relu(1.0 + _f32(fake_logits)))


def g_loss_mean(fake_logits):
    """G loss of hinge and WGAN: raise D's score of the fakes, -mean D(G(z))."""
    return -ops.mean(_f32(fake_logits))


def d_loss_wasserstein(real_logits, fake_logits):
    """WGAN critic loss (add a gradient penalty: ``GAN(..., gp_weight=10)``)."""
    return ops.mean(_f32(fake_logits)) - ops.mean(_f32(real_logits))


#: loss name -> (discriminator loss, generator loss)
LOSSES = {
    "hinge": (d_loss_hinge, g_loss_mean),
    "bce": (d_loss_bce, g_loss_bce),
    "wgan-gp": (d_loss_wasserstein, g_loss_mean),
}

#: D's loss when it outputs 0 for every image ("chance"): hinge 1 + 1, BCE 2 ln 2.
CHANCE_D_LOSS = {"hinge": 2.0, "bce": 1.3862943611198906}

# --------------------------------------------------------------------------- the GAN


class TrainStepHelpers:
    """Loss scaling and the EMA generator: the bookkeeping every adversarial ``train_step`` shares.

    ``GAN`` (notebook 04) and ``pix2pix.Pix2Pix`` (notebook 08) both use it. It
    needs ``self.generator``, ``self.ema_generator`` (or None), ``self.ema_decay``,
    ``self.trackers`` (name -> ``keras.metrics.Mean``), ``self.g_optimizer`` (and, for ``latent_noise``, ``self.latent_dim`` and
    ``self.seed_generator``).
    """

    @property
    def metrics(self):
        """The running means the progress bar shows (``self.trackers``), reset every epoch by Keras."""
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        """Calling the model runs the (EMA) generator: ``gan(z)``, ``gan([z, labels])``, ``pix2pix(x)``."""
        return self._sampling_model()(inputs, training=training)

    def _sampling_model(self):
        return self.ema_generator if self.ema_generator is not None else self.generator

    def scale_loss(self, loss, optimizer):
        """The loss to differentiate: / replicas (gradients are summed over devices), x loss scale."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return optimizer.scale_loss(loss / replicas)

    def latent_noise(self, batch_size):
        """``z`` ~ N(0, 1), ``batch_size`` x ``latent_dim``, different on every replica.

        Every replica's random generator is in the same state, so with several
        devices each draws the same numbers: here each takes its own slice of
        one draw for the whole global batch. On one device it is a plain draw.
        """
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        noise = keras.random.normal((batch_size * replicas, self.latent_dim), seed=self.seed_generator)
        start = context.replica_id_in_sync_group * batch_size
        return noise[start : start + batch_size]

    def update_ema(self):
        """ema_w <- decay * ema_w + (1 - decay) * w (decay ramps up over the first steps)."""
        if self.ema_generator is None:
            return
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            context.merge_call(self._assign_ema_everywhere)  # once, not once per device
        else:
            self._assign_ema()

    def _assign_ema(self):
        step = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for weight, ema_weight in zip(self.generator.weights, self.ema_generator.weights):
            ema_weight.assign(decay * ema_weight + (1.0 - decay) * ops.cast(weight, ema_weight.dtype))

    def _assign_ema_everywhere(self, strategy):
        step = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for weight, ema_weight in zip(self.generator.weights, self.ema_generator.weights):
            strategy.extended.update(
                ema_weight.value,
                lambda ema, w: ema.assign(decay * ema + (1.0 - decay) * tf.cast(w, ema.dtype)),
                args=(weight.value,),
            )


@keras.saving.register_keras_serializable(package="medgan")
class GAN(TrainStepHelpers, SamplerMixin, keras.Model):
    """A generator and a discriminator trained against each other by ``fit``.

    Args:
        generator, discriminator: from ``models.build_generator`` / ``build_discriminator``.
        latent_dim: length of ``z`` (the generator's first input).
        num_classes: None (unconditional) or the number of classes; then the data
            must yield ``(images, labels)``.
        augment: DiffAugment policy: ``"medical"`` (default), another policy name,
            a list of augmentations, or None.
        ada_target: None = augment every image; a number (0.6 in the ADA paper)
            = adaptive augmentation probability ``p``, raised while D calls more
            than that fraction of augmented real images real, lowered otherwise.
        ada_images: images over which ``p`` can move from 0 to 1.
        ema_decay: decay of the generator's exponential moving average
            (None = no EMA; ``generate`` then uses G itself).
        d_steps: discriminator updates per generator update.
        gp_weight: weight of the WGAN-GP gradient penalty (0 = off).
        r1_weight, r1_every: weight of the R1 penalty (0 = off) and its lazy
            interval (computed every ``r1_every``-th D step, weighted by it).
        diversity_weight: weight of the mode-seeking term in G's loss (0 = off;
            Mao et al. 2019): G pays when two latents of the same class give
            nearly the same image — against collapse within a class.
        seed: seeds the model's ``keras.random.SeedGenerator`` (latents, augmentation).
        class_names: names of the classes, for pictures and the sampler.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        num_classes: int | None = None,
        augment: str | tuple | None = "medical",
        ada_target: float | None = None,
        ada_images: int = 20_000,
        ema_decay: float | None = 0.999,
        d_steps: int = 1,
        gp_weight: float = 0.0,
        r1_weight: float = 0.0,
        r1_every: int = 4,
        diversity_weight: float = 0.0,
        seed: int = 0,
        class_names: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_players(generator, discriminator, latent_dim, num_classes)
        if int(d_steps) < 1:
            raise ValueError(f"d_steps={d_steps!r} must be >= 1.")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay={ema_decay!r} must be in (0, 1), or None for no EMA.")
        if ada_target is not None and not 0.0 < ada_target < 1.0:
            raise ValueError(f"ada_target={ada_target!r} must be in (0, 1) (0.6 in the ADA paper), or None.")
        if min(gp_weight, r1_weight, diversity_weight) < 0 or int(r1_every) < 1:
            raise ValueError("gp_weight, r1_weight and diversity_weight must be >= 0, and r1_every >= 1.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.num_classes = num_classes
        self.augment_policy = parse_policy(augment)
        self.ada_target = ada_target
        self.ada_images = int(ada_images)
        self.ema_decay = ema_decay
        self.d_steps = int(d_steps)
        self.gp_weight = float(gp_weight)
        self.r1_weight = float(r1_weight)
        self.r1_every = int(r1_every)
        self.diversity_weight = float(diversity_weight)
        self.seed = int(seed)
        self._class_names = tuple(class_names) if class_names else ()
        self.seed_generator = keras.random.SeedGenerator(seed)
        # ADA's augmentation probability; 1 = always augment (plain DiffAugment)
        self.augment_p = self.add_weight(
            name="augment_p", shape=(), initializer=keras.initializers.Constant(
                0.0 if ada_target is not None else 1.0), trainable=False,
            aggregation="only_first_replica",
        )
        self.ema_generator = None
        if ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "d_grad_norm", "g_grad_norm",
                         "real_sign", "augment_p")
        }
        self.loss_name = "hinge"
        self.d_loss_fn, self.g_loss_fn = LOSSES["hinge"]
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
                ``LossScaleOptimizer`` (:func:`loss_scaled`: one whose replicas agree to skip a step).
            d_loss_fn, g_loss_fn: functions of the logits; by default the pair
                named by ``loss`` in ``LOSSES`` ("hinge", "bce", "wgan-gp").
            jit_compile: compile the step with XLA (``accel.configure()`` says
                when it pays: on a single GPU).
        """
        from medgan_helpers import recipe

        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r} is not known: use one of {', '.join(LOSSES)}.")
        if loss == "wgan-gp" and d_loss_fn is None and not self.gp_weight:
            raise ValueError("loss='wgan-gp' needs a gradient penalty: build GAN(..., gp_weight=10).")
        default_g, default_d = recipe.optimizers() if g_optimizer is None or d_optimizer is None else (None, None)
        g_optimizer, d_optimizer = g_optimizer or default_g, d_optimizer or default_d
        if _computes_in_float16(self.generator):
            g_optimizer, d_optimizer = loss_scaled(g_optimizer), loss_scaled(d_optimizer)
        super().compile(jit_compile=bool(jit_compile), **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        named_d, named_g = LOSSES[loss]
        self.d_loss_fn, self.g_loss_fn = d_loss_fn or named_d, g_loss_fn or named_g
        self.loss_name = loss if d_loss_fn is None and g_loss_fn is None else (
            f"{getattr(self.d_loss_fn, '__name__', 'custom')}/{getattr(self.g_loss_fn, '__name__', 'custom')}")
        # Build the optimizer slots now, so BackupAndRestore / load_weights can restore them.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    # ---- the training step (written out in notebook 04)
    def train_step(self, batch):
        real_images, labels = self.unpack(batch)  # labels is None for an unconditional GAN
        batch_size = ops.shape(real_images)[0]
        G, D = self.generator, self.discriminator
        with_labels = (lambda x: x) if labels is None else (lambda x: [x, labels])

        # 1) Discriminator: score real images high and generated images low.
        for _ in range(self.d_steps):
            z = self.latent_noise(batch_size)
            fake_images = G(with_labels(z), training=True)
            with tf.GradientTape() as tape:
                real_logits = D(with_labels(self.augment(real_images)), training=True)
                fake_logits = D(with_labels(self.augment(fake_images)), training=True)
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                if self.gp_weight:
                    d_loss += self.gp_weight * self.gradient_penalty(real_images, fake_images, labels)
                if self.r1_weight:
                    d_loss += self.r1_weight * self.r1_penalty(real_images, labels)
                scaled_loss = self.scale_loss(d_loss, self.d_optimizer)
            d_grads = tape.gradient(scaled_loss, D.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))

        # 2) Generator: make the discriminator score fresh fakes high.
        z = self.latent_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = G(with_labels(z), training=True)
            fake_logits_for_g = D(with_labels(self.augment(fake_images)), training=True)
            g_loss = self.g_loss_fn(fake_logits_for_g)
            if self.diversity_weight:
                g_loss += self.diversity_weight * self.mode_seeking_penalty(z, fake_images, labels)
            scaled_loss = self.scale_loss(g_loss, self.g_optimizer)
        g_grads = tape.gradient(scaled_loss, G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))

        # 3) Bookkeeping: follow G with its moving average, steer augmentation, report.
        self.update_ema()
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

    def gradient_penalty(self, real_images, fake_images, labels):
        """WGAN-GP: (||grad_x D(x)|| - 1)^2 on random mixes of real and fake images."""
        alpha = keras.random.uniform((ops.shape(real_images)[0], 1, 1, 1), seed=self.seed_generator)
        mixed = real_images + alpha * (fake_images - real_images)
        return ops.mean(ops.square(self._input_gradient_norm(mixed, labels) - 1.0))

    def r1_penalty(self, real_images, labels):
        """R1 (Mescheder et al. 2018): 1/2 E||grad_x D(x)||^2 on real images, every r1_every-th step."""
        def penalty():
            return 0.5 * self.r1_every * ops.mean(ops.square(self._input_gradient_norm(real_images, labels)))

        if self.r1_every == 1:
            return penalty()
        due = ops.equal(self.d_optimizer.iterations % self.r1_every, 0)
        return ops.cond(due, penalty, lambda: ops.zeros((), "float32"))

    def mode_seeking_penalty(self, z, fake_images, labels):
        """Mode seeking (Mao et al. 2019), within the batch: no extra pass through G.

        For every pair of fakes of the same class, the ratio of their image
        distance to their latent distance; the penalty is the mean of 1 / ratio.
        When G draws nearly the same image for different latents of a class
        (collapse), the ratios are small and the penalty large.
        """
        x = ops.reshape(_f32(fake_images), (ops.shape(fake_images)[0], -1))
        image_distance = ops.mean(ops.abs(x[:, None, :] - x[None, :, :]), axis=-1)
        latent_distance = ops.mean(ops.abs(z[:, None, :] - z[None, :, :]), axis=-1)
        n = ops.shape(z)[0]
        pairs = 1.0 - ops.eye(n)  # every pair, not an image with itself
        if labels is not None:
            pairs = pairs * ops.cast(ops.equal(labels, ops.transpose(labels)), "float32")
        inverse_ratio = latent_distance / (image_distance + 1e-5 * latent_distance + 1e-8)
        return ops.sum(pairs * inverse_ratio) / ops.maximum(ops.sum(pairs), 1.0)

    def _input_gradient_norm(self, images, labels):
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = self.discriminator(images if labels is None else [images, labels], training=True)
            total = ops.sum(_f32(logits))  # d total / d image_i = d logit_i / d image_i
        grads = _f32(tape.gradient(total, images))
        return ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)  # safe at 0

    def update_augment_p(self, real_logits):
        """ADA: raise p while D calls more than ``ada_target`` of the real images real."""
        if self.ada_target is None:
            return
        real_sign = ops.mean(ops.sign(_f32(real_logits)))  # r_t in the ADA paper
        step = ops.cast(ops.shape(real_logits)[0], "float32") / self.ada_images
        new_p = self.augment_p + ops.sign(real_sign - self.ada_target) * step
        self.augment_p.assign(ops.clip(new_p, 0.0, 1.0))

    def update_metrics(self, d_loss, g_loss, real_logits, fake_logits, d_grads, g_grads):
        """Running means shown by ``fit``: losses, D's accuracies, gradient norms, ADA state."""
        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real_acc": ops.mean(ops.cast(_f32(real_logits) > 0, "float32")),
            "d_fake_acc": ops.mean(ops.cast(_f32(fake_logits) < 0, "float32")),
            "d_grad_norm": _grad_norm(d_grads, self.d_optimizer),
            "g_grad_norm": _grad_norm(g_grads, self.g_optimizer),
            "real_sign": ops.mean(ops.sign(_f32(real_logits))),
            "augment_p": ops.convert_to_tensor(self.augment_p),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def gan_config(self) -> dict[str, Any]:
        """The GAN's own settings as JSON-ready values (saved in the run's config.json)."""
        return {
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "loss": self.loss_name,
            "augment": list(self.augment_policy),
            "ada_target": self.ada_target,
            "ada_images": self.ada_images,
            "ema_decay": self.ema_decay,
            "d_steps": self.d_steps,
            "gp_weight": self.gp_weight,
            "r1_weight": self.r1_weight,
            "r1_every": self.r1_every,
            "diversity_weight": self.diversity_weight,
            "seed": self.seed,
            "image_size": self.image_size,
            "channels": self.channels,
        }


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


def _computes_in_float16(model: keras.Model) -> bool:
    return any(getattr(layer.dtype_policy, "compute_dtype", "") == "float16" for layer in model.layers)


@keras.saving.register_keras_serializable(package="medgan")
class ReplicaSafeLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A ``LossScaleOptimizer`` that applies a step only if every replica's gradients are finite.

    Keras 3 decides from each replica's *own* gradients (under ``MirroredStrategy``
    from the first replica's alone) and sums them across replicas only afterwards,
    inside the inner optimizer. When only another replica's scaled gradients
    overflow, that inf sum is applied and the weights become non-finite (seen on
    two logical CPUs with ``mixed_float16``, about 1 run in 3). Here the replicas
    agree first: a step with non-finite gradients on any replica is skipped by all.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return finite
        # ReduceOp has only SUM and MEAN: count the replicas that saw a non-finite gradient
        non_finite = context.all_reduce(tf.distribute.ReduceOp.SUM, ops.cast(ops.logical_not(finite), "float32"))
        return ops.equal(non_finite, 0.0)


def loss_scaled(optimizer):
    """``optimizer`` wrapped for ``mixed_float16`` in a :class:`ReplicaSafeLossScaleOptimizer`.

    A plain Keras ``LossScaleOptimizer`` is re-wrapped (same inner optimizer and
    settings); None stays None.
    """
    if optimizer is None or isinstance(optimizer, ReplicaSafeLossScaleOptimizer):
        return optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return ReplicaSafeLossScaleOptimizer(optimizer.inner_optimizer, initial_scale=optimizer.initial_scale,
                                             dynamic_growth_steps=optimizer.dynamic_growth_steps)
    return ReplicaSafeLossScaleOptimizer(optimizer)


def _grad_norm(grads, optimizer):
    grads = [_f32(g) for g in grads if g is not None]
    norm = tf.linalg.global_norm(grads)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / _f32(optimizer.dynamic_scale)
    return norm
