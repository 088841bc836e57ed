"""The generator's anti-speckle choices: a fixed binomial blur after upsampling, and pixel norm instead of BN."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers import models, recipe
from medgan_helpers.generator_layers import BinomialBlur, PixelNorm

LATENT = 16


def test_blur_removes_a_checkerboard_and_keeps_flat_images_and_a_black_border():
    checker = np.indices((8, 8)).sum(0) % 2 * 2.0 - 1.0  # +1/-1 alternating: the highest frequency there is
    images = np.stack([checker, -np.ones((8, 8)), np.full((8, 8), 0.3)])[..., None].astype("float32")
    out = np.asarray(BinomialBlur()(images))
    assert out.shape == images.shape
    assert np.abs(out[0, 1:-1, 1:-1]).max() < 1e-6  # [1,2,1]/4 along each axis cancels +1/-1 exactly
    # reflected borders: a black background stays black to the edge (zero padding would grey it)
    np.testing.assert_allclose(out[1], -1.0, atol=1e-6)
    np.testing.assert_allclose(out[2], 0.3, atol=1e-6)


def test_blur_filters_each_channel_on_its_own():
    images = np.zeros((1, 6, 6, 2), "float32")
    images[0, 3, 3, 1] = 16.0
    out = np.asarray(BinomialBlur()(images))
    assert np.all(out[..., 0] == 0)
    np.testing.assert_allclose(out[0, 2:5, 2:5, 1], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_pixel_norm_gives_unit_rms_features_at_every_pixel():
    x = np.random.default_rng(0).normal(0, 5, (2, 4, 4, 8)).astype("float32")
    rms = np.sqrt(np.mean(np.asarray(PixelNorm()(x)) ** 2, axis=-1))
    np.testing.assert_allclose(rms, 1.0, rtol=1e-4)


def _z(n=4):
    return np.random.default_rng(1).normal(size=(n, LATENT)).astype("float32")


def test_pixel_norm_generator_is_the_same_function_in_training_and_alone():
    """Batch norm makes an image depend on its batch-mates while training; pixel norm does not."""
    labels = np.array([[0], [1], [2], [3]])
    z = _z()
    for norm, independent in (("pixel", True), ("batch", False)):
        G = models.build_generator(32, 1, LATENT, 4, base_filters=4, max_filters=16, norm=norm)
        together = np.asarray(G([z, labels], training=True))[:1]
        alone = np.asarray(G([z[:1], labels[:1]], training=True))
        assert np.allclose(together, alone, atol=1e-5) == independent, norm


@pytest.mark.parametrize("upsampling, norm", [("blur", "batch"), ("blur", "pixel"), ("nearest", "pixel")])
def test_new_choices_build_save_and_load(tmp_path, upsampling, norm):
    G = models.build_generator(32, 1, LATENT, 4, base_filters=4, max_filters=16, upsampling=upsampling, norm=norm)
    names = [layer.name for layer in G.layers]
    assert any(n.startswith("blur_") for n in names) == (upsampling == "blur")
    assert any(n.startswith("pixel_norm_") for n in names) == (norm == "pixel")
    assert not any(n.startswith("bn_") for n in names) == (norm == "pixel")
    G.save(tmp_path / "g.keras")
    again = keras.models.load_model(tmp_path / "g.keras", safe_mode=True)
    rebuilt = models.rebuild(models.build_settings(G), "generator")
    rebuilt.set_weights(G.get_weights())
    labels = np.array([[0], [3], [1], [2]])
    for other in (again, rebuilt):
        np.testing.assert_allclose(np.asarray(G([_z(), labels])), np.asarray(other([_z(), labels])), atol=1e-6)


def test_bad_norm_and_cbn_without_batch_norm_are_refused():
    with pytest.raises(ValueError, match="norm"):
        models.build_generator(32, norm="layer")
    with pytest.raises(ValueError, match="conditioning='cbn'.*norm='batch'"):
        models.build_generator(32, 1, LATENT, 4, conditioning="cbn", norm="pixel")


def test_discriminator_highpass_channel_sees_speckle_not_smooth_images():
    D = models.build_discriminator(32, 1, 4, base_filters=4, max_filters=16, highpass=True)
    inputs = keras.Model(D.inputs, D.get_layer("image_and_highpass").output)
    flat = np.full((1, 32, 32, 1), 0.4, "float32")
    ramp = np.broadcast_to(np.linspace(-1, 1, 32, dtype="float32")[None, :, None, None], (1, 32, 32, 1))
    speckle = flat + np.random.default_rng(0).choice([-0.1, 0.1], (1, 32, 32, 1)).astype("float32")
    labels = np.zeros((1, 1), "int32")
    seen = {name: np.asarray(inputs([x, labels]))[0] for name, x in
            (("flat", flat), ("ramp", ramp), ("speckle", speckle))}
    for name in seen:
        assert seen[name].shape == (32, 32, 2)
    np.testing.assert_allclose(seen["flat"][..., 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(seen["ramp"][1:-1, 1:-1, 1], 0.0, atol=1e-5)  # a straight ramp has no curvature
    assert np.abs(seen["speckle"][..., 1]).mean() > 0.2  # +-0.1 speckle, x4 gain, minus its blur
    assert models.build_settings(D)["highpass"] is True


def test_two_convs_per_block_add_one_normalised_conv_at_every_size_and_round_trip(tmp_path):
    one = models.build_generator(32, 1, LATENT, 4, base_filters=4, max_filters=16)
    two = models.build_generator(32, 1, LATENT, 4, base_filters=4, max_filters=16, block_convs=2)
    convs = lambda G: sorted(layer.name for layer in G.layers if layer.name.startswith("conv"))  # noqa: E731
    assert convs(two) == sorted(convs(one) + [n.replace("conv_", "conv2_") for n in convs(one)])
    assert {layer.name for layer in one.layers} < {layer.name for layer in two.layers}  # 1-conv names unchanged
    assert "bn2_32x32" in {layer.name for layer in two.layers}
    path = tmp_path / "g.keras"
    two.save(path)
    z = _z(3)
    labels = np.array([[0], [1], [3]], dtype="int32")
    assert np.allclose(keras.models.load_model(path).predict([z, labels], verbose=0),
                       two.predict([z, labels], verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="block_convs=0"):
        models.build_generator(32, block_convs=0)


def test_block_convs_is_a_recipe_knob_that_reaches_the_generator():
    cfg = recipe.gan_config(quick=True, g_block_convs=2)
    assert cfg.generator_settings()["block_convs"] == 2
    assert recipe.GAN_DEFAULTS["g_block_convs"] == 1
