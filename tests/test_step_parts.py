"""medgan_helpers.step_parts on one replica: EMA math, loss scaling and its finite check, gradient norms, noise.

(Several replicas: test_distributed.py for the EMA update and the noise, test_pix2pix.py
for a step that overflows on one replica only.)
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from medgan_helpers import step_parts


def _net(dtype: str = "float32") -> keras.Model:
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, dtype=dtype)(inputs))


def _set(model: keras.Model, value: float) -> list[np.ndarray]:
    weights = [np.full(w.shape, value, "float32") for w in model.weights]
    model.set_weights(weights)
    return weights


def test_ema_copy_starts_equal_and_checks_the_decay():
    model = _net()
    average = step_parts.ema_copy(model, 0.99)
    assert average is not model
    for a, b in zip(average.weights, model.weights):
        assert a is not b and np.array_equal(a.numpy(), b.numpy())
    assert step_parts.ema_copy(model, None) is None
    with pytest.raises(ValueError, match=r"ema_decay=1\.0 must be in \(0, 1\), or None"):
        step_parts.ema_copy(model, 1.0)


def test_update_ema_moves_the_average_towards_the_weights_with_a_ramped_decay():
    model, average = _net(), _net()
    _set(model, 1.0)
    _set(average, 0.0)
    # past the ramp: the decay is the one asked for
    step_parts.update_ema(average, model, 0.9, step=tf.constant(10_000, "int64"))
    for w in average.weights:
        np.testing.assert_allclose(w.numpy(), 0.1, rtol=1e-6)
    # at step 0 the decay is min(0.9, 1/10) = 0.1: the average jumps most of the way
    _set(average, 0.0)
    step_parts.update_ema(average, model, 0.9, step=tf.constant(0, "int64"))
    for w in average.weights:
        np.testing.assert_allclose(w.numpy(), 0.9, rtol=1e-6)
    step_parts.update_ema(None, model, 0.9, step=0)  # no EMA: nothing to do, no error


def test_scale_loss_multiplies_by_the_loss_scale_only_when_there_is_one():
    loss = tf.constant(3.0)
    assert float(step_parts.scale_loss(loss, keras.optimizers.SGD(0.1))) == 3.0
    scaled = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=2.0**10)
    assert float(step_parts.scale_loss(loss, scaled)) == 3.0 * 2.0**10


def test_gradient_norm_is_the_global_norm_without_the_loss_scale():
    grads = [tf.constant([3.0, 0.0]), None, tf.constant([[4.0]], "float16")]
    assert float(step_parts.gradient_norm(grads, keras.optimizers.SGD(0.1))) == pytest.approx(5.0)
    scaled = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=4.0)
    scaled.build([keras.Variable(np.zeros(2, np.float32))])  # the scale is a variable made by build (compile)
    assert float(step_parts.gradient_norm(grads, scaled)) == pytest.approx(5.0 / 4.0)


def test_loss_scaled_optimizer_skips_a_non_finite_step_and_applies_a_finite_one():
    weight = keras.Variable(np.ones(3, np.float32))
    optimizer = step_parts.loss_scaled(keras.optimizers.SGD(0.5))
    optimizer.build([weight])
    scale = float(optimizer.dynamic_scale.numpy())
    assert optimizer.check_finite([tf.constant([1.0, np.nan, 0.0])]).numpy() == np.False_
    optimizer.apply_gradients([(tf.constant([1.0, np.inf, 0.0]), weight)])
    assert weight.numpy().tolist() == [1.0, 1.0, 1.0]  # skipped, the scale halved
    assert float(optimizer.dynamic_scale.numpy()) == scale / 2 and int(optimizer.iterations.numpy()) == 0
    # gradients of a scaled loss: the optimizer divides by the scale before the SGD step
    optimizer.apply_gradients([(tf.constant([2.0, 0.0, 0.0]) * (scale / 2), weight)])
    np.testing.assert_allclose(weight.numpy(), [0.0, 1.0, 1.0])
    assert int(optimizer.iterations.numpy()) == 1


def test_for_precision_wraps_optimizers_only_for_a_float16_model():
    g, d = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
    assert step_parts.for_precision(_net("float32"), g, d) == (g, d)
    assert not step_parts.computes_in_float16(_net("float32"))
    half = _net("mixed_float16")
    assert step_parts.computes_in_float16(half)
    wrapped_g, wrapped_d, none = step_parts.for_precision(half, g, d, None)
    assert isinstance(wrapped_g, step_parts.ReplicaSafeLossScaleOptimizer) and wrapped_g.inner_optimizer is g
    assert isinstance(wrapped_d, step_parts.ReplicaSafeLossScaleOptimizer) and none is None


def test_latent_noise_on_one_replica_is_a_seeded_normal_draw():
    first = step_parts.latent_noise(5, 7, keras.random.SeedGenerator(3))
    again = step_parts.latent_noise(5, 7, keras.random.SeedGenerator(3))
    assert tuple(first.shape) == (5, 7) and first.dtype == "float32"
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    seed = keras.random.SeedGenerator(3)
    step_parts.latent_noise(5, 7, seed)
    assert not np.allclose(step_parts.latent_noise(5, 7, seed).numpy(), first.numpy())  # the seed moves on
