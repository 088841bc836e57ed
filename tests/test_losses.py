"""medgan_helpers.losses: each loss and penalty on known inputs gives the known value; the name lookup."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from medgan_helpers import losses
from tests.helpers import LATENT, SIZE, blobs, tiny_gan

REAL = np.array([[2.0], [-0.5]], "float32")
FAKE = np.array([[0.5], [-3.0]], "float32")


def softplus(x):
    return np.log1p(np.exp(x))


def test_loss_functions_by_hand():
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 1.5)/2 + (1.5 + 0)/2
    assert float(losses.d_loss_hinge(REAL, FAKE)) == pytest.approx(1.5)
    assert float(losses.g_loss_mean(FAKE)) == pytest.approx(1.25)
    assert float(losses.d_loss_bce(REAL, FAKE)) == pytest.approx(softplus(-REAL).mean() + softplus(FAKE).mean(),
                                                                  rel=1e-5)
    assert float(losses.g_loss_bce(FAKE)) == pytest.approx(softplus(-FAKE).mean(), rel=1e-5)
    assert float(losses.g_loss_saturating(FAKE)) == pytest.approx(-softplus(FAKE).mean(), rel=1e-5)
    assert float(losses.d_loss_wasserstein(REAL, FAKE)) == pytest.approx(FAKE.mean() - REAL.mean())


def test_losses_compute_in_float32_from_float16_logits():
    big = np.array([[300.0], [-300.0]], "float16")  # softplus(300) overflows float16, not float32
    value = losses.d_loss_bce(big, big)
    assert value.dtype == "float32" and float(value) == pytest.approx(300.0, rel=1e-3)


def test_chance_levels_are_the_d_loss_of_a_d_that_outputs_zero():
    zeros = np.zeros((8, 1), "float32")
    assert float(losses.d_loss_hinge(zeros, zeros)) == pytest.approx(losses.CHANCE_D_LOSS["hinge"])
    assert float(losses.d_loss_bce(zeros, zeros)) == pytest.approx(losses.CHANCE_D_LOSS["bce"])


def test_get_chooses_the_pair_by_name():
    assert losses.get("hinge") == (losses.d_loss_hinge, losses.g_loss_mean)
    assert losses.get("bce") == (losses.d_loss_bce, losses.g_loss_bce)
    assert losses.get("wgan-gp") == (losses.d_loss_wasserstein, losses.g_loss_mean)
    assert set(losses.LOSSES) == {"hinge", "bce", "wgan-gp"}


def test_an_unknown_loss_name_says_which_names_exist():
    with pytest.raises(ValueError, match=r"loss='l2' is not known: use one of hinge, bce, wgan-gp"):
        losses.get("l2")


def _linear_critic(weights: np.ndarray) -> keras.Model:
    """D(x) = <w, x>: its input gradient is w for every image, so the penalties are known exactly."""
    inputs = keras.Input((SIZE, SIZE, 1))
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.kernel.assign(weights.reshape(-1, 1))
    return model


def test_penalties_of_a_linear_critic_have_known_values():
    w = np.zeros(SIZE * SIZE, "float32")
    w[:2] = 3.0, 4.0  # ||w|| = 5
    critic = _linear_critic(w)
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, SIZE, SIZE, 1)).astype("float32"))
    fake = -real
    np.testing.assert_allclose(losses.input_gradient_norm(critic, real, None).numpy(), 5.0, rtol=1e-5)
    seed = keras.random.SeedGenerator(0)
    assert float(losses.gradient_penalty(critic, real, fake, None, seed=seed)) == pytest.approx((5.0 - 1.0) ** 2)
    assert float(losses.r1_penalty(critic, real, None)) == pytest.approx(0.5 * 25.0)
    # lazy R1: nothing off its step, every-times the penalty on it
    assert float(losses.r1_penalty(critic, real, None, every=4, step=tf.constant(1, "int64"))) == 0.0
    assert float(losses.r1_penalty(critic, real, None, every=4, step=tf.constant(8, "int64"))) == pytest.approx(
        4 * 0.5 * 25.0)


def test_gradient_penalty_is_finite_for_identical_real_and_fake():
    """The safe norm keeps the penalty (and its gradient) finite when real == fake."""
    model = tiny_gan(None, "wgan-gp")
    images = tf.zeros((4, SIZE, SIZE, 1))
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(model.discriminator, images, images, None, seed=model.seed_generator)
    grads = tape.gradient(penalty, model.discriminator.trainable_weights)
    assert np.isfinite(float(penalty))
    assert all(g is None or np.isfinite(g.numpy()).all() for g in grads)


def test_r1_penalty_of_the_kit_discriminator_matches_a_hand_computed_gradient_norm():
    model = tiny_gan(3, r1_weight=1.0, r1_every=1)
    images, labels = blobs(4)
    x = tf.constant(images)
    y = tf.constant(labels.reshape(-1, 1).astype("int32"))
    for _ in range(10):  # let spectral norm's power iteration settle (training=True updates it)
        model.discriminator([x, y], training=True)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model.discriminator([x, y], training=True))
    grads = tape.gradient(total, x).numpy()
    expected = 0.5 * np.mean(np.sum(grads.reshape(4, -1) ** 2, axis=1))
    assert float(losses.r1_penalty(model.discriminator, x, y)) == pytest.approx(expected, rel=0.05)


def test_mode_seeking_penalty_by_hand_and_large_for_a_collapsed_generator():
    z = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]], "float32")
    images = np.zeros((3, 2, 2, 1), "float32")
    images[1], images[2] = 1.0, 0.5
    labels = np.array([[0], [0], [1]], "int32")  # one same-class pair: (0, 1) and (1, 0)
    # latent distance mean|z0 - z1| = 1, image distance 1: ratio 1 / (1 + 1e-5 + 1e-8)
    assert float(losses.mode_seeking_penalty(z, images, labels)) == pytest.approx(1.0, rel=1e-4)

    model = tiny_gan(3, diversity_weight=1.0)
    z = tf.random.normal((8, LATENT), seed=1)
    labels = tf.constant(np.arange(8).reshape(-1, 1) % 3, "int32")
    varied = float(losses.mode_seeking_penalty(z, model.generator([z, labels], training=True), labels))
    last = model.generator.get_layer("to_image")
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))  # every z -> the same image
    collapsed = float(losses.mode_seeking_penalty(z, model.generator([z, labels], training=True), labels))
    assert np.isfinite(varied) and varied < 1e3 < collapsed
