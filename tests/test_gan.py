"""Tests for medgan_helpers.gan: every loss and penalty in training, DiffAugment/ADA, the step itself.

(The losses and penalties on their own: test_losses.py; EMA, loss scaling, noise: test_step_parts.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from medgan_helpers import config, data, gan, losses, models
from tests.helpers import LATENT, SIZE, blob_set, blobs, tiny_gan


def _dataset(n=64, classes=3, batch=16, seed=0):
    return data.to_tf_dataset(blob_set(n, classes=classes), batch_size=batch, seed=seed)


# --------------------------------------------------------------------------- every loss


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["hinge", "bce", "wgan-gp"])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_every_loss_trains_conditional_and_not(loss, num_classes):
    """Eager mode here (tracing six models costs more than the steps); graph mode is
    exercised by the save/load, NaN-guard, train() and resume tests."""
    model = tiny_gan(num_classes, loss, run_eagerly=True)
    before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    history = model.fit(_dataset(classes=num_classes), epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert set(logs) == {"d_loss", "g_loss", "d_real_acc", "d_fake_acc", "d_grad_norm", "g_grad_norm",
                         "real_sign", "augment_p"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert 0.0 <= logs["d_real_acc"] <= 1.0 and logs["d_grad_norm"] > 0 and logs["g_grad_norm"] > 0
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, model.generator.trainable_weights))
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(d_before, model.discriminator.trainable_weights))
    assert int(model.g_optimizer.iterations.numpy()) == 4
    ema = model.ema_generator.trainable_weights  # the EMA copy moved, but is not G itself
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in zip(ema, model.generator.trainable_weights))


def test_custom_loss_functions_go_to_compile():
    model = tiny_gan(None)
    model.compile(d_loss_fn=losses.d_loss_bce, g_loss_fn=losses.g_loss_bce)
    assert model.d_loss_fn is losses.d_loss_bce and model.loss_name == "d_loss_bce/g_loss_bce"
    with pytest.raises(ValueError, match="gp_weight"):
        tiny_gan(None).compile(loss="wgan-gp")
    with pytest.raises(ValueError, match="loss"):
        tiny_gan(None).compile(loss="l2")


def test_ada_steers_p_by_the_sign_of_d_on_real_images():
    model = tiny_gan(3, ada_target=0.6, ada_images=64)
    confident = tf.fill((16, 1), 3.0)  # D calls every real image real: r_t = 1 > 0.6
    unsure = tf.constant(np.r_[np.ones(8), -np.ones(8)].reshape(-1, 1), "float32")  # r_t = 0 < 0.6
    assert float(model.augment_p.numpy()) == 0.0
    model.update_augment_p(confident)
    assert float(model.augment_p.numpy()) == pytest.approx(16 / 64)  # up by batch / ada_images
    for _ in range(10):
        model.update_augment_p(confident)
    assert float(model.augment_p.numpy()) == 1.0  # clipped
    model.update_augment_p(unsure)
    assert float(model.augment_p.numpy()) == pytest.approx(0.75)
    plain = tiny_gan(3, ada_target=None)  # without ADA (the recipe has it): always augment, never steered
    plain.update_augment_p(unsure)
    assert float(plain.augment_p.numpy()) == 1.0


@pytest.mark.slow
def test_r1_and_ada_train_together():
    model = tiny_gan(3, r1_weight=0.5, r1_every=2, ada_target=0.6, ada_images=64)
    history = model.fit(_dataset(), epochs=2, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert 0.0 <= float(model.augment_p.numpy()) <= 1.0
    assert int(model.d_optimizer.iterations.numpy()) == 8


def test_d_steps_runs_several_discriminator_updates():
    model = tiny_gan(None, d_steps=2, run_eagerly=True)
    model.fit(_dataset(32, classes=None), epochs=1, verbose=0)
    assert int(model.d_optimizer.iterations.numpy()) == 4
    assert int(model.g_optimizer.iterations.numpy()) == 2


def test_conditional_gan_without_labels_says_what_to_do():
    model = tiny_gan(3)
    with pytest.raises(ValueError, match="no labels"):
        model.fit(_dataset(32, classes=None), epochs=1, verbose=0)


def test_constructor_errors_name_the_problem():
    G = models.build_generator(SIZE, 1, LATENT, base_filters=4)
    D = models.build_discriminator(SIZE, 1, base_filters=4)
    with pytest.raises(ValueError, match="latent_dim"):
        gan.GAN(G, D, LATENT + 1)
    with pytest.raises(ValueError, match="num_classes"):
        gan.GAN(G, D, LATENT, num_classes=3)
    with pytest.raises(ValueError, match="unknown augmentation"):
        gan.GAN(G, D, LATENT, augment="hue")
    with pytest.raises(ValueError, match="ada_target"):
        gan.GAN(G, D, LATENT, ada_target=1.5)


# --------------------------------------------------------------------------- DiffAugment


def test_diff_augment_medical_policy():
    images = np.full((8, SIZE, SIZE, 1), 0.5, "float32")
    out = np.asarray(gan.diff_augment(images, "medical", seed=3))
    assert out.shape == images.shape
    assert not np.allclose(out, images)
    # translation pads with black (-1) and brightness/contrast are mild
    assert out.min() >= -1.0 - 0.25 and out.max() <= 0.5 + 0.25
    # same seed, same augmentation; None = identity
    np.testing.assert_array_equal(out, np.asarray(gan.diff_augment(images, "medical", seed=3)))
    np.testing.assert_array_equal(np.asarray(gan.diff_augment(images, None)), images)


def test_diff_augment_probability_leaves_the_other_images_alone():
    images = np.full((200, SIZE, SIZE, 1), 0.5, "float32")
    out = np.asarray(gan.diff_augment(images, ("brightness",), seed=1, probability=0.3))
    changed = ~np.all(out == images, axis=(1, 2, 3))
    assert 0.15 < changed.mean() < 0.45
    assert np.all(np.asarray(gan.diff_augment(images, ("brightness",), seed=1, probability=0.0)) == images)


def test_diff_augment_no_flip_by_default_and_differentiable():
    assert "flip" not in gan.AUGMENT_POLICIES["medical"]
    images = tf.Variable(np.random.default_rng(0).uniform(-1, 1, (4, SIZE, SIZE, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(gan.diff_augment(images, ("translation", "cutout"), seed=1))
    grad = tape.gradient(out, images)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0


def test_cutout_zeroes_a_square():
    images = np.ones((2, SIZE, SIZE, 1), "float32")
    out = np.asarray(gan.diff_augment(images, ("cutout",), seed=0, cutout_ratio=0.25))
    zeros = (out == 0).reshape(2, -1).sum(1)
    assert np.all(zeros > 0) and np.all(zeros <= 8 * 8)


# --------------------------------------------------------------------------- determinism


def _train_once(seed):
    config.seed_everything(seed)
    G = models.build_generator(28, 1, LATENT, 3, base_filters=4, max_filters=8)
    D = models.build_discriminator(28, 1, 3, base_filters=4, max_filters=8)
    model = gan.GAN(G, D, LATENT, 3, seed=seed)
    model.compile()
    images, labels = blobs(64, size=28)
    ds = data.to_tf_dataset(data.from_arrays(images, labels), batch_size=16, seed=seed)
    model.fit(ds, epochs=1, verbose=0)
    return model.generate(8, seed=3)


@pytest.mark.slow
def test_same_seed_same_training_same_samples():
    """Same seed -> bit-identical samples after training (CPU); another seed differs."""
    first, second, other = _train_once(7), _train_once(7), _train_once(8)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_negative_penalty_weights_are_refused():
    with pytest.raises(ValueError, match="diversity_weight"):
        tiny_gan(3, diversity_weight=-1.0)
