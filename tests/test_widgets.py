"""The sampler's state machine: every control changes what it should.

Real TensorFlow throughout: tiny generators from ``models.build_generator`` (random
weights — the sampler's wiring does not depend on training) and the real
``brain-mri`` ImageSet at 32 px for the nearest-real panel.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from medgan_helpers import data, models, pictures, sampling, widgets
from medgan_helpers import gan as gan_module

SIZE = 32
LATENT = 16


@pytest.fixture(scope="module")
def conditional_generator() -> keras.Model:
    keras.utils.set_random_seed(0)
    return models.build_generator(SIZE, 1, LATENT, num_classes=4, base_filters=8, max_filters=32)


@pytest.fixture(scope="module")
def unconditional_generator() -> keras.Model:
    keras.utils.set_random_seed(1)
    return models.build_generator(SIZE, 1, LATENT, base_filters=8, max_filters=32)


@pytest.fixture(scope="module")
def brain() -> data.ImageSet:
    full = data.load_dataset("brain-mri", image_size=SIZE, split="train")
    return full.subset(np.arange(0, len(full), 8))  # every 8th image: all classes, fast


@pytest.fixture()
def sampler(conditional_generator, brain) -> widgets.Sampler:
    return widgets.Sampler(conditional_generator, dataset=brain, pca_samples=64)


def shown(image_widget) -> np.ndarray:
    """What the browser receives: the PNG bytes of an Image widget, decoded."""
    return pictures.from_png(image_widget.value)


# -- construction / inference from a bare keras generator --------------------


def test_infers_shape_facts_from_a_bare_keras_generator(sampler, brain):
    assert (sampler.latent_dim, sampler.image_size, sampler.channels) == (LATENT, SIZE, 1)
    assert sampler.num_classes == 4
    assert sampler.class_names == brain.class_names  # taken from the dataset
    assert [label for label, _ in sampler.class_dropdown.options] == brain.class_names
    assert sampler.current_image.shape == (SIZE, SIZE, 1)
    assert sampler.current_image.min() >= -1 and sampler.current_image.max() <= 1


def test_widget_shows_exactly_the_rendered_image(sampler):
    rendered = sampler.render()
    assert rendered.dtype == np.uint8 and rendered.shape == (SIZE, SIZE, 1)
    np.testing.assert_array_equal(shown(sampler.image_widget), rendered)
    np.testing.assert_array_equal(rendered, data.to_uint8(sampler.current_image))


def test_dom_hooks_for_browser_tests(sampler):
    assert "medgan-sampler" in sampler.widget._dom_classes
    assert "medgan-sample" in sampler.image_widget._dom_classes
    assert "medgan-seed" in sampler.seed_slider._dom_classes
    assert "medgan-class" in sampler.class_dropdown._dom_classes
    assert sampler.seed_slider.description == "seed"
    assert sampler.class_dropdown.description == "class"
    assert sampler.truncation_slider.description == "truncation"


# -- seed ----------------------------------------------------------------------


def test_seed_changes_the_image_and_the_same_seed_gives_the_same_image(sampler):
    sampler.seed_slider.value = 3
    first = shown(sampler.image_widget)
    sampler.seed_slider.value = 4
    other = shown(sampler.image_widget)
    sampler.seed_slider.value = 3
    again = shown(sampler.image_widget)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(first, again)
    assert "seed 3" in sampler.caption.value


def test_same_seed_same_image_across_samplers(conditional_generator):
    a = widgets.Sampler(conditional_generator, seed=11, pca_samples=16)
    b = widgets.Sampler(conditional_generator, seed=11, pca_samples=16)
    np.testing.assert_allclose(a.current_image, b.current_image, atol=1e-6)


def test_new_seed_button_jumps_to_another_seed(sampler):
    before_seed, before = sampler.seed, shown(sampler.image_widget)
    sampler.new_seed_button.click()  # fires the on_click handler like a browser click
    assert sampler.seed != before_seed
    assert 0 <= sampler.seed <= sampler.seed_slider.max
    assert not np.array_equal(before, shown(sampler.image_widget))


# -- class ---------------------------------------------------------------------


def test_class_dropdown_changes_the_image(sampler):
    sampler.class_dropdown.value = 0
    first = shown(sampler.image_widget)
    sampler.class_dropdown.value = 2
    second = shown(sampler.image_widget)
    assert not np.array_equal(first, second)
    assert sampler.label == 2 and sampler.class_names[2] in sampler.caption.value
    # the same latent is used: only the class changed
    np.testing.assert_allclose(sampler.current_latent(), sampler.model.sample_latent(1, seed=sampler.seed)[0])


def test_unconditional_model_hides_the_class_dropdown(unconditional_generator):
    s = widgets.Sampler(unconditional_generator, pca_samples=16)
    assert s.num_classes is None and s.label is None
    assert s.class_dropdown.disabled and s.class_dropdown.layout.display == "none"
    with pytest.raises(ValueError, match="unconditional"):
        s.set(label=1)


# -- truncation ----------------------------------------------------------------


def test_truncation_slider(sampler):
    sampler.set(seed=5, truncation=sampler.truncation_slider.max)
    assert sampler.truncation is None and "off" in sampler.truncation_label.value
    plain = sampler.current_image.copy()
    np.testing.assert_allclose(sampler.current_latent(), sampling.truncated_normal(1, LATENT, seed=5)[0])
    sampler.truncation_slider.value = 0.5
    assert sampler.truncation == 0.5
    assert np.abs(sampler.current_latent()).max() <= 0.5
    assert not np.allclose(plain, sampler.current_image)
    # truncation only resamples the large entries: the small ones are kept
    z_plain = sampling.truncated_normal(1, LATENT, seed=5)[0]
    small = np.abs(z_plain) <= 0.5
    np.testing.assert_allclose(sampler.current_latent()[small], z_plain[small])


# -- latent directions -----------------------------------------------------------


def test_direction_sliders_move_the_latent_along_orthonormal_directions(sampler):
    assert sampler.direction_method == "pca", sampler.direction_note
    d = sampler.directions
    assert d.shape == (3, LATENT)
    np.testing.assert_allclose(d @ d.T, np.eye(3), atol=1e-5)
    sampler.set(seed=7, directions=[0, 0, 0])
    z0, image0 = sampler.current_latent(), shown(sampler.image_widget)
    sampler.direction_sliders[0].value = 2.0
    np.testing.assert_allclose(sampler.current_latent(), z0 + 2.0 * d[0], atol=1e-5)
    assert not np.array_equal(image0, shown(sampler.image_widget))
    sampler.reset_directions_button.click()
    np.testing.assert_array_equal(image0, shown(sampler.image_widget))


def test_pca_direction_one_moves_the_image_more_than_a_random_direction(conditional_generator):
    """The first principal direction is where G's output varies most (on average)."""
    s = widgets.Sampler(conditional_generator, pca_samples=128)
    rng = np.random.default_rng(0)
    random_dir = rng.standard_normal(LATENT).astype(np.float32)
    random_dir /= np.linalg.norm(random_dir)
    z = s.model.sample_latent(32, seed=99)
    labels = np.zeros(32, np.int32)
    base = s.model.generate_from_latent(z, labels)

    def change(direction):
        moved = s.model.generate_from_latent(z + 1.5 * direction[None], labels)
        return float(np.abs(moved - base).mean())

    assert change(s.directions[0]) > change(random_dir)


def test_random_directions_and_degenerate_fallback():
    keras.utils.set_random_seed(2)
    z = keras.Input((8,), name="z")
    x = keras.layers.Dense(4 * 4, kernel_initializer="zeros", bias_initializer="ones")(z)
    x = keras.layers.Reshape((4, 4, 1))(x)
    image = keras.layers.Activation("tanh")(keras.layers.UpSampling2D(8)(x))
    constant = keras.Model(z, image)  # ignores z entirely: no principal directions exist
    s = widgets.Sampler(constant, pca_samples=16)
    assert s.direction_method == "random" and "degenerate" in s.direction_note
    np.testing.assert_allclose(s.directions @ s.directions.T, np.eye(3), atol=1e-5)
    r = sampling.latent_directions(constant, k=2, method="random")
    assert r[1] == "random" and r[0].shape == (2, 8)


# -- interpolation strip -----------------------------------------------------------


def test_slerp_endpoints_and_norms():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(32), 2 * rng.standard_normal(32)
    path = sampling.slerp(z0, z1, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], z0, rtol=1e-5)
    np.testing.assert_allclose(path[-1], z1, rtol=1e-5)
    norms = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(norms, np.linspace(np.linalg.norm(z0), np.linalg.norm(z1), 5), rtol=1e-5)
    # equal angular steps along the great circle
    unit = path / norms[:, None]
    angles = np.arccos(np.clip(np.sum(unit[:-1] * unit[1:], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-4)
    with pytest.raises(ValueError, match="same length"):
        sampling.slerp(z0, z1[:5], 0.5)


def test_interpolation_strip_runs_from_seed_to_strip_seed(sampler):
    sampler.set(seed=10, strip_seed=20, directions=[0, 0, 0])
    strip = sampler.strip_images
    assert strip.shape == (sampler.strip_length, SIZE, SIZE, 1)
    np.testing.assert_allclose(strip[0], sampler.current_image, atol=1e-5)
    end = sampler.model.generate_from_latent(
        sampler.model.sample_latent(1, seed=20), np.array([sampler.label])
    )[0]
    np.testing.assert_allclose(strip[-1], end, atol=1e-5)
    picture = shown(sampler.strip_widget)
    assert picture.shape[1] == sampler.strip_length * SIZE + (sampler.strip_length - 1) * 2
    sampler.strip_seed_slider.value = 21
    assert not np.allclose(sampler.strip_images[-1], strip[-1])
    np.testing.assert_allclose(sampler.strip_images[0], strip[0], atol=1e-6)


# -- nearest real training image ----------------------------------------------


def test_nearest_real_panel_is_the_brute_force_nearest(sampler, brain):
    reals = brain.images.reshape(len(brain), -1)
    for seed in (0, 1, 2):
        sampler.seed_slider.value = seed
        brute = np.linalg.norm(reals - sampler.current_image.reshape(1, -1), axis=1)
        assert sampler.nearest_distance >= 0
        assert sampler.nearest_index == int(np.argmin(brute))
        assert sampler.nearest_distance == pytest.approx(float(brute.min()), rel=1e-4, abs=1e-3)
        np.testing.assert_array_equal(shown(sampler.nearest_widget), brain.pixels[sampler.nearest_index])
        assert f"#{sampler.nearest_index}" in sampler.nearest_label.value


def test_a_memorised_sample_has_distance_zero(conditional_generator, brain):
    """Put the generated image itself into the 'training set': the panel must find it."""
    s = widgets.Sampler(conditional_generator, pca_samples=16, seed=4)
    copy = data.to_uint8(s.current_image)[None] / 127.5 - 1.0
    reals = np.concatenate([brain.images[:50], copy.astype(np.float32), brain.images[50:100]])
    s2 = widgets.Sampler(conditional_generator, dataset=reals, pca_samples=16, seed=4)
    assert s2.nearest_index == 50
    # only the uint8 rounding of the copy differs: at most half a grey level per pixel
    assert s2.nearest_distance <= np.sqrt(SIZE * SIZE) * (1 / 255) + 1e-4
    others = np.linalg.norm(brain.images[:100].reshape(100, -1) - copy.reshape(1, -1), axis=1)
    assert s2.nearest_distance < 0.05 * others.min()


def test_nearest_real_searches_a_fixed_subset_of_a_large_dataset(conditional_generator, brain):
    s = widgets.Sampler(conditional_generator, dataset=brain, pca_samples=16, nearest_max=50, seed=3)
    searched = s._reference_index
    assert len(searched) == 50 and len(np.unique(searched)) == 50
    reals = brain.images[searched].reshape(50, -1)
    brute = np.linalg.norm(reals - s.current_image.reshape(1, -1), axis=1)
    assert s.nearest_index == int(searched[np.argmin(brute)])  # reported in the dataset's own indexing
    np.testing.assert_array_equal(shown(s.nearest_widget), brain.pixels[s.nearest_index])
    assert f"searched 50 of {len(brain)}" in s.nearest_label.value


# -- clear errors ---------------------------------------------------------------------


def test_bad_model_gives_a_clear_error(conditional_generator):
    with pytest.raises(TypeError, match="sampler protocol"):
        widgets.Sampler(object())
    discriminator = models.build_discriminator(SIZE, 1, base_filters=8)
    with pytest.raises(TypeError, match="generator"):
        widgets.Sampler(discriminator)
    with pytest.raises(ValueError, match="strip_length"):
        widgets.Sampler(conditional_generator, strip_length=1)


def test_dataset_mismatch_gives_a_clear_error(conditional_generator, brain):
    bigger = data.load_dataset("brain-mri", image_size=64, split="train")
    with pytest.raises(ValueError, match=r"64x64 px.*32x32 px.*image_size=32"):
        widgets.Sampler(conditional_generator, dataset=bigger)
    rgb = models.build_generator(SIZE, 3, LATENT, num_classes=4, base_filters=8, max_filters=32)
    with pytest.raises(ValueError, match="channel"):
        widgets.Sampler(rgb, dataset=brain)
    three = models.build_generator(SIZE, 1, LATENT, num_classes=3, base_filters=8, max_filters=32)
    with pytest.raises(ValueError, match=r"4 classes.*trained\s+with 3"):
        widgets.Sampler(three, dataset=brain)


# -- latency (printed, never asserted) -------------------------------------------


def test_print_single_sample_latency(sampler):
    for seed in range(3):  # warm-up
        sampler.seed_slider.value = seed
    times = []
    for seed in range(3, 23):
        start = time.perf_counter()
        sampler.seed_slider.value = seed
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"\nsampler latency ({SIZE} px tiny G + nearest of {len(sampler.dataset)} real): "
        f"median {np.median(times):.1f} ms, p95 {np.percentile(times, 95):.1f} ms"
    )
    assert len(times) == 20


# -- notebook 06 exercise checks: a right answer passes, typical wrong ones fail -----


def test_nb06_checks_accept_right_and_reject_wrong_answers():
    from medgan_helpers.exercises import nb06

    assert nb06.check_slerp(sampling.slerp)
    assert not nb06.check_slerp(lambda z0, z1, t: (1 - t) * z0 + t * z1)  # lerp

    def nearest(sample, reals):
        d = np.linalg.norm(reals.reshape(len(reals), -1) - sample.reshape(1, -1), axis=1)
        return int(np.argmin(d)), float(d.min())

    assert nb06.check_nearest_real(nearest)
    assert not nb06.check_nearest_real(lambda s, r: (nearest(s, r)[0], nearest(s, r)[1] ** 2))
    assert not nb06.check_nearest_real(lambda s, r: (0, 0.0))

    def diversity(images):
        flat = images.reshape(len(images), -1)
        d = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
        return d[np.triu_indices(len(images), 1)].mean()

    assert nb06.check_diversity(diversity)
    assert not nb06.check_diversity(lambda images: np.linalg.norm(
        images.reshape(len(images), -1)[:, None] - images.reshape(len(images), -1)[None], axis=-1).mean())


# -- the sampler protocol (sampling.GeneratorModel / gan.GAN) --------------------------


def test_protocol_model_shows_what_generate_gives(conditional_generator, brain):
    model = sampling.GeneratorModel(conditional_generator, num_classes=4, class_names=["a", "b", "c", "d"])
    s = widgets.Sampler(model, dataset=brain, pca_samples=32)
    assert s.class_names == ["a", "b", "c", "d"]  # the model's names win over the dataset's
    s.set(seed=12, label=3)
    expected = model.generate(1, labels=[3], seed=12)[0]
    np.testing.assert_allclose(s.current_image, expected, atol=1e-5)
    s.set(truncation=0.7)
    expected = model.generate(1, labels=[3], seed=12, truncation=0.7)[0]
    np.testing.assert_allclose(s.current_image, expected, atol=1e-5)


def test_gan_is_accepted_and_sampled_with_its_ema_generator(conditional_generator):
    discriminator = models.build_discriminator(SIZE, 1, num_classes=4, base_filters=8)
    gan = gan_module.GAN(conditional_generator, discriminator, latent_dim=LATENT, num_classes=4)
    s = widgets.Sampler(gan, pca_samples=16)
    s.set(seed=5, label=2)
    np.testing.assert_allclose(s.current_image, gan.generate(1, labels=[2], seed=5)[0], atol=1e-5)
    if gan.ema_generator is not None:  # move the EMA weights: the sampler must follow them
        gan.ema_generator.set_weights([w * 0.5 for w in gan.ema_generator.get_weights()])
        s.render()
        np.testing.assert_allclose(s.current_image, gan.generate(1, labels=[2], seed=5)[0], atol=1e-5)
