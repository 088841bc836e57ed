"""Tests for medgan_helpers.sampling: one protocol, one meaning of labels=None, one adapter."""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers import models, sampling
from tests.helpers import LATENT, SIZE, tiny_gan


def test_generate_same_seed_same_images_and_labels():
    model = tiny_gan(3)
    a = model.generate(6, seed=5)
    b = model.generate(6, seed=5)
    c = model.generate(6, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (6, SIZE, SIZE, 1) and a.dtype == np.float32
    assert a.min() >= -1 and a.max() <= 1
    # batch size does not change the images
    np.testing.assert_allclose(model.generate(6, seed=5, batch_size=4), a, atol=1e-6)
    # class by name and by id agree
    named = tiny_gan(3, class_names=["a", "b", "c"])
    np.testing.assert_array_equal(named.generate(2, labels="b"), named.generate(2, labels=1))


def test_labels_none_cycles_through_the_classes_everywhere():
    model = tiny_gan(3)
    cycled = model.generate(6, seed=1)
    explicit = model.generate(6, labels=[0, 1, 2, 0, 1, 2], seed=1)
    np.testing.assert_array_equal(cycled, explicit)
    bare = sampling.as_sampler(model.ema_generator)  # the adapter means the same thing
    np.testing.assert_allclose(bare.generate(6, seed=1), cycled, atol=1e-6)
    np.testing.assert_array_equal(model.labels_for(5), [0, 1, 2, 0, 1])


def test_sample_latent_truncation_and_errors():
    model = tiny_gan(None)
    z = model.sample_latent(500, seed=0, truncation=0.5)
    assert z.shape == (500, LATENT) and z.dtype == np.float32
    assert np.abs(z).max() <= 0.5
    assert np.abs(model.sample_latent(500, seed=0)).max() > 2
    with pytest.raises(ValueError, match="truncation"):
        model.sample_latent(2, truncation=0)
    with pytest.raises(ValueError, match="unconditional"):
        model.generate(2, labels=[0, 1])
    with pytest.raises(ValueError, match="expected"):
        model.generate_from_latent(np.zeros((2, LATENT + 1)))
    conditional = tiny_gan(3)
    with pytest.raises(ValueError, match="class ids"):
        conditional.generate(2, labels=[0, 7])
    with pytest.raises(ValueError, match="one label per image"):
        conditional.generate(3, labels=[0, 1])
    with pytest.raises(ValueError, match="not one of"):
        conditional.generate(3, labels="liver")


def test_the_protocol_is_one_typing_protocol():
    model = tiny_gan(3)
    assert isinstance(model, sampling.Sampler)
    generator_only = sampling.GeneratorModel(model.ema_generator)
    assert isinstance(generator_only, sampling.Sampler)
    assert not isinstance(model.ema_generator, sampling.Sampler)  # a bare Keras model needs the adapter
    assert (model.latent_dim, model.num_classes, model.image_size, model.channels) == (LATENT, 3, SIZE, 1)
    assert model.class_names == ["class 0", "class 1", "class 2"]
    assert tiny_gan(None).class_names is None


def test_generator_model_reads_its_facts_from_the_keras_model():
    G = models.build_generator(SIZE, 1, LATENT, 5, base_filters=4, max_filters=8)
    sampler = sampling.as_sampler(G)
    assert isinstance(sampler, sampling.GeneratorModel)
    assert (sampler.latent_dim, sampler.num_classes, sampler.image_size) == (LATENT, 5, SIZE)
    np.testing.assert_allclose(
        sampler.generate(3, seed=2),
        np.asarray(G([sampler.sample_latent(3, seed=2), np.arange(3)[:, None]], training=False)), atol=1e-6)
    cbn = models.build_generator(SIZE, 1, LATENT, 4, base_filters=4, max_filters=8, conditioning="cbn")
    assert sampling.as_sampler(cbn).num_classes == 4
    with pytest.raises(TypeError, match="generator"):
        sampling.as_sampler(models.build_discriminator(SIZE, 1, base_filters=4))
    with pytest.raises(TypeError, match="sampler protocol"):
        sampling.as_sampler(object())
    with pytest.raises(ValueError, match="latent_dim"):
        sampling.GeneratorModel(G, latent_dim=LATENT + 1)


def test_slerp_endpoints_and_norms():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(64), rng.standard_normal(64)
    path = sampling.slerp(z0, z1, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    norms = np.linalg.norm(path, axis=1)
    linear = np.linalg.norm((z0 + z1) / 2)
    assert norms[2] > linear  # the straight line dips towards the origin; slerp does not
    # lengths are interpolated linearly, directions in equal angular steps along the great circle
    z2 = 2 * rng.standard_normal(64)
    path = sampling.slerp(z0, z2, np.linspace(0, 1, 5))
    norms = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(norms, np.linspace(np.linalg.norm(z0), np.linalg.norm(z2), 5), rtol=1e-5)
    unit = path / norms[:, None]
    angles = np.arccos(np.clip(np.sum(unit[:-1] * unit[1:], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-4)
    with pytest.raises(ValueError, match="same length"):
        sampling.slerp(z0, z1[:5], 0.5)


def test_latent_directions_are_orthonormal():
    model = tiny_gan(3)
    directions, method, note = sampling.latent_directions(model, k=3, n_samples=32)
    assert directions.shape == (3, LATENT) and method in {"pca", "random"} and note
    np.testing.assert_allclose(directions @ directions.T, np.eye(3), atol=1e-5)


class _SleepySampler:
    """Takes a set time per draw and records each call: what ms_per_image must time."""

    def __init__(self, seconds):
        self.seconds, self.calls = list(seconds), []

    def generate(self, n, labels=None, seed=0, **options):
        import time

        self.calls.append((n, labels, seed, options))
        time.sleep(self.seconds.pop(0))
        return np.zeros((n, 4, 4, 1), np.float32)


def test_ms_per_image_warms_up_then_keeps_the_fastest_draw():
    sampler = _SleepySampler([0.5, 0.3, 0.03, 0.3])  # warm-up (not timed), then three timed draws
    ms = sampling.ms_per_image(sampler, 4, repeats=3, labels=1, steps=7)
    assert 30 / 4 <= ms < 300 / 4  # the fastest draw (>= its sleep), not the warm-up nor the mean
    assert [c[2] for c in sampler.calls] == [0, 1, 2, 3]
    assert all(c[0] == 4 and c[1] == 1 and c[3] == {"steps": 7} for c in sampler.calls)
    assert sampling.ms_per_image(tiny_gan(3), 3, repeats=1) > 0
    with pytest.raises(ValueError, match="repeats=0"):
        sampling.ms_per_image(sampler, 4, repeats=0)
