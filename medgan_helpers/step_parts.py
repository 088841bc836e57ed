"""The bookkeeping every ``train_step`` of the kit shares, as free functions of what they touch.

``gan.GAN`` (notebook 04), ``pix2pix.Pix2Pix`` (notebook 08) and any new model
family call these by name, passing the models, optimizers and seeds they use;
nothing here reads an attribute of the model that calls it.

- Latent noise: :func:`latent_noise` (a different ``z`` on every replica).
- Loss scaling: :func:`scale_loss` (divide by the replicas, multiply by the loss
  scale), :func:`for_precision` and :func:`loss_scaled` (wrap optimizers in a
  :class:`ReplicaSafeLossScaleOptimizer` when the models compute in ``mixed_float16``).
- The moving average of a generator: :func:`ema_copy`, :func:`update_ema`.
- Gradient norms for the progress bar: :func:`gradient_norm` (without the loss scale).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

# --------------------------------------------------------------------------- latent noise


def latent_noise(batch_size, latent_dim: int, seed: keras.random.SeedGenerator):
    """``z`` ~ N(0, 1), ``batch_size`` x ``latent_dim``, different on every replica.

    Every replica's random generator is in the same state, so with several
    devices each draws the same numbers: here each takes its own slice of
    one draw for the whole global batch. On one device it is a plain draw.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
        return keras.random.normal((batch_size, latent_dim), seed=seed)
    noise = keras.random.normal((batch_size * replicas, latent_dim), seed=seed)
    start = context.replica_id_in_sync_group * batch_size
    return noise[start : start + batch_size]


# --------------------------------------------------------------------------- loss scaling


def scale_loss(loss, optimizer: keras.optimizers.Optimizer):
    """The loss to differentiate: / replicas (gradients are summed over devices), x loss scale."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return optimizer.scale_loss(loss / replicas)


def computes_in_float16(model: keras.Model) -> bool:
    """True when any layer of ``model`` computes in float16 (``mixed_float16``): its optimizer needs loss scaling."""
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


def for_precision(model: keras.Model, *optimizers):
    """``optimizers`` as they are, or each :func:`loss_scaled` when ``model`` computes in float16."""
    if computes_in_float16(model):
        return tuple(loss_scaled(optimizer) for optimizer in optimizers)
    return optimizers


# --------------------------------------------------------------------------- EMA


def ema_copy(model: keras.Model, decay: float | None) -> keras.Model | None:
    """A copy of ``model`` with the same weights, to hold its moving average; None when ``decay`` is None."""
    if decay is None:
        return None
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay={decay!r} must be in (0, 1), or None for no EMA.")
    average = keras.models.clone_model(model)
    average.set_weights(model.get_weights())
    return average


def update_ema(average: keras.Model | None, model: keras.Model, decay: float, step) -> None:
    """average_w <- d * average_w + (1 - d) * w, with d = min(decay, (1 + step) / (10 + step)).

    ``step`` is the generator optimizer's ``iterations``: the decay ramps up over
    the first steps, so the average does not keep the random initial weights.
    With several replicas the update runs once, for every replica's copy alike.
    Nothing happens when ``average`` is None (no EMA).
    """
    if average is None:
        return
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        context.merge_call(lambda strategy: _assign_ema_everywhere(strategy, average, model, decay, step))
    else:
        d = _ramped_decay(decay, step)
        for weight, ema_weight in zip(model.weights, average.weights):
            ema_weight.assign(d * ema_weight + (1.0 - d) * ops.cast(weight, ema_weight.dtype))


def _ramped_decay(decay: float, step):
    step = ops.cast(step, "float32")
    return ops.minimum(decay, (1.0 + step) / (10.0 + step))


def _assign_ema_everywhere(strategy, average, model, decay, step):
    d = _ramped_decay(decay, step)  # read here, in cross-replica context, as the one value all copies use
    for weight, ema_weight in zip(model.weights, average.weights):
        strategy.extended.update(
            ema_weight.value,
            lambda ema, w: ema.assign(d * ema + (1.0 - d) * tf.cast(w, ema.dtype)),
            args=(weight.value,),
        )


# --------------------------------------------------------------------------- gradient norms


def gradient_norm(grads, optimizer: keras.optimizers.Optimizer):
    """The global norm of ``grads`` (float32), divided by the loss scale if ``optimizer`` applies one."""
    norm = tf.linalg.global_norm([ops.cast(g, "float32") for g in grads if g is not None])
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / ops.cast(optimizer.dynamic_scale, "float32")
    return norm
