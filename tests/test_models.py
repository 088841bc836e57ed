"""Tests for medgan_helpers.models: shapes for every size, conditioning, saving, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers import models

LATENT = 16


def _z(n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype("float32")


@pytest.mark.parametrize("image_size", [28, 32, 64, 128])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_generator_and_discriminator_shapes_every_size(image_size, num_classes):
    G = models.build_generator(image_size, 1, LATENT, num_classes, base_filters=4, max_filters=16)
    D = models.build_discriminator(image_size, 1, num_classes, base_filters=4, max_filters=16)
    z = _z()
    labels = np.array([[0], [1], [2]], dtype="int32")
    images = np.asarray(G([z, labels] if num_classes else z))
    assert images.shape == (3, image_size, image_size, 1)
    assert images.dtype == np.float32
    assert np.all(np.abs(images) <= 1.0)  # tanh output
    logits = np.asarray(D([images, labels] if num_classes else images))
    assert logits.shape == (3, 1)
    assert [t.name for t in G.inputs] == (["z", "label"] if num_classes else ["z"])
    assert [t.name for t in D.inputs] == (["image", "label"] if num_classes else ["image"])


def test_rgb_images_and_layer_names_teach():
    G = models.build_generator(32, 3, LATENT, base_filters=4, max_filters=16)
    assert G.output.shape[1:] == (32, 32, 3)
    names = [layer.name for layer in G.layers]
    assert names[:3] == ["z", "latent_to_features", "reshape_to_4x4x16"]
    assert "upsample_32x32" in names and "conv_32x32" in names and names[-1] == "tanh"
    rows = dict(models.layer_shapes(G))
    assert rows["upsample_8x8"] == (8, 8, 16) and rows["conv_32x32"] == (32, 32, 4)
    transposed = models.build_generator(32, 3, LATENT, base_filters=4, max_filters=16, upsampling="transpose")
    rows = dict(models.layer_shapes(transposed))
    assert rows["up_8x8"] == (8, 8, 16) and rows["up_32x32"] == (32, 32, 4)


def test_28px_starts_from_7x7():
    G = models.build_generator(28, 1, LATENT, base_filters=4)
    assert dict(models.layer_shapes(G))["reshape_to_7x7x16"] == (7, 7, 16)


def test_width_knobs_change_parameter_count():
    small = models.build_generator(64, 1, LATENT, base_filters=8, max_filters=64)
    big = models.build_generator(64, 1, LATENT, base_filters=16, max_filters=128)
    assert big.count_params() > 2 * small.count_params()
    for mode in ("nearest", "bilinear"):
        upsampled = models.build_generator(64, 1, LATENT, base_filters=8, max_filters=64, upsampling=mode)
        assert upsampled.get_layer("upsample_64x64").interpolation == mode
        assert upsampled.output.shape[1:] == (64, 64, 1)


def test_conditional_batch_norm_and_minibatch_std_shapes_and_build_settings():
    G = models.build_generator(32, 1, LATENT, 3, base_filters=4, max_filters=16, conditioning="cbn")
    names = [layer.name for layer in G.layers]
    assert "cbn_32x32" in names and "label_embedding" not in names
    out = np.asarray(G([np.zeros((2, LATENT), "float32"), np.array([[0], [2]])], training=False))
    assert out.shape == (2, 32, 32, 1)
    D = models.build_discriminator(32, 1, 3, base_filters=4, max_filters=16, minibatch_std=True)
    assert D.get_layer("minibatch_std").output.shape[-1] == 8 + 1  # the 8 maps before the last block, plus one
    assert np.asarray(D([np.zeros((4, 32, 32, 1), "float32"), np.zeros((4, 1), "int32")])).shape == (4, 1)
    settings = models.build_settings(G)
    assert settings["conditioning"] == "cbn" and settings["base_filters"] == 4
    rebuilt = models.rebuild(settings)
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in G.weights]


def test_discriminator_spectral_norm_switch():
    with_sn = models.build_discriminator(32, 1, base_filters=4)
    without = models.build_discriminator(32, 1, base_filters=4, spectral_norm=False)
    assert any(isinstance(layer, keras.layers.SpectralNormalization) for layer in with_sn.layers)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in without.layers)


def test_projection_uses_the_label():
    """Same image, different class -> different logit (the projection term)."""
    D = models.build_discriminator(32, 1, 4, base_filters=4, spectral_norm=False)
    proj = D.get_layer("class_projection")
    proj.class_embeddings.assign(np.random.default_rng(0).standard_normal((4, proj.class_embeddings.shape[1])))
    image = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    logits = [float(D([image, np.array([[k]])])[0, 0]) for k in range(4)]
    assert len(set(np.round(logits, 5))) == 4


def test_projection_equals_dot_product_by_hand():
    layer = models.ClassProjection(3, spectral_norm=False)
    features = np.random.default_rng(0).standard_normal((2, 5)).astype("float32")
    labels = np.array([[2], [0]])
    out = np.asarray(layer([features, labels]))
    emb = np.asarray(layer.class_embeddings)
    np.testing.assert_allclose(out[:, 0], (emb[[2, 0]] * features).sum(1), rtol=1e-5)


def test_save_and_load_with_safe_mode(tmp_path):
    G = models.build_generator(32, 1, LATENT, 4, base_filters=4, max_filters=16)
    D = models.build_discriminator(32, 1, 4, base_filters=4, max_filters=16)
    G.save(tmp_path / "g.keras")
    D.save(tmp_path / "d.keras")
    G2 = keras.models.load_model(tmp_path / "g.keras", safe_mode=True)
    D2 = keras.models.load_model(tmp_path / "d.keras", safe_mode=True)
    z, labels = _z(), np.array([[0], [3], [1]])
    np.testing.assert_array_equal(np.asarray(G([z, labels])), np.asarray(G2([z, labels])))
    images = np.asarray(G([z, labels]))
    np.testing.assert_array_equal(np.asarray(D([images, labels])), np.asarray(D2([images, labels])))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in G2.layers + D2.layers)


@pytest.mark.parametrize("size", [0, 48, 256, "64"])
def test_unsupported_size_lists_valid_sizes(size):
    with pytest.raises(ValueError, match="28, 32, 64, 128"):
        models.build_generator(size)
    with pytest.raises(ValueError, match="28, 32, 64, 128"):
        models.build_discriminator(size)


def test_bad_knobs_are_named():
    with pytest.raises(ValueError, match="base_filters"):
        models.build_generator(32, base_filters=0)
    with pytest.raises(ValueError, match="num_classes"):
        models.build_discriminator(32, num_classes=1)
    with pytest.raises(ValueError, match="upsampling"):
        models.build_generator(32, upsampling="bicubic")
    with pytest.raises(ValueError, match="conditioning"):
        models.build_generator(32, 1, LATENT, 2, conditioning="film")
    assert models.is_conditional(models.build_generator(32, 1, LATENT, 2, base_filters=4))
    assert not models.is_conditional(models.build_generator(32, 1, LATENT, base_filters=4))
