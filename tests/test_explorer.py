"""The headless sampler state (``explorer.LatentExplorer``): no widget, real models, real data.

Tiny generators from ``models.build_generator`` (random weights: the explorer's
bookkeeping does not depend on training), a protocol-only sampler written in
numpy (proof that the explorer uses the ``sampling.Sampler`` protocol and
nothing else), and the real ``brain-mri`` ImageSet at 32 px for the
nearest-real search.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers import data, models, sampling
from medgan_helpers import gan as gan_module
from medgan_helpers.explorer import KEEP, LatentExplorer

SIZE = 32
LATENT = 16


class NumpySampler:
    """A complete (if tiny) sampler without Keras: image = tanh(z @ W + class offset), per pixel.

    Only the protocol's attributes and methods exist, so anything else the
    explorer touched would fail here.
    """

    latent_dim = LATENT

    def __init__(self, num_classes: int | None = 3, size: int = SIZE) -> None:
        rng = np.random.default_rng(5)
        self.num_classes = num_classes
        self._size = size
        self._weights = rng.standard_normal((LATENT, size * size)).astype(np.float32) / np.sqrt(LATENT)
        self._offsets = rng.standard_normal((num_classes or 1, size * size)).astype(np.float32)
        self.calls: list[dict] = []

    @property
    def class_names(self) -> list[str] | None:
        return ["small", "medium", "large"][: self.num_classes] if self.num_classes else None

    @property
    def image_size(self) -> int:
        return self._size

    @property
    def channels(self) -> int:
        return 1

    def sample_latent(self, n: int, seed: int = 0, truncation: float | None = None) -> np.ndarray:
        return sampling.truncated_normal(n, LATENT, seed=seed, truncation=truncation)

    def generate_from_latent(self, z: np.ndarray, labels=None, contrast: float = 1.0) -> np.ndarray:
        self.calls.append({"n": len(z), "contrast": contrast})
        x = np.asarray(z, np.float32) @ self._weights
        if self.num_classes:
            x = x + self._offsets[np.asarray(labels, int)]
        return np.tanh(contrast * x).reshape(len(z), self._size, self._size, 1).astype(np.float32)

    def generate(self, n, labels=None, seed=0, truncation=None):
        raise AssertionError("the explorer must draw through generate_from_latent, with its own latents")


@pytest.fixture()
def explorer(sampler_generator, brain32) -> LatentExplorer:
    return LatentExplorer(sampler_generator, dataset=brain32, pca_samples=64)


def brute_force_nearest(image: np.ndarray, reals: np.ndarray) -> tuple[int, float]:
    distances = np.linalg.norm(reals.reshape(len(reals), -1).astype(np.float64) - image.reshape(1, -1), axis=1)
    return int(np.argmin(distances)), float(distances.min())


# -- facts and defaults ------------------------------------------------------------


def test_facts_of_a_bare_keras_generator_and_names_from_the_dataset(explorer, brain32):
    assert (explorer.latent_dim, explorer.image_size, explorer.channels, explorer.num_classes) == (LATENT, SIZE, 1, 4)
    assert explorer.class_names == brain32.class_names
    assert explorer.state() == {
        "seed": 0, "label": 0, "class_name": brain32.class_names[0], "truncation": None,
        "directions": [0.0, 0.0, 0.0], "strip_seed": 1, "options": {},
    }
    image = explorer.image()
    assert image.shape == (SIZE, SIZE, 1) and image.dtype == np.float32
    assert -1 <= image.min() and image.max() <= 1


# -- seed and label ------------------------------------------------------------------


def test_same_seed_same_image_and_another_seed_another(sampler_generator):
    a = LatentExplorer(sampler_generator, seed=11, pca_samples=16)
    b = LatentExplorer(sampler_generator, seed=11, pca_samples=16)
    np.testing.assert_allclose(a.image(), b.image(), atol=1e-6)
    first = a.image()
    a.set(seed=12)
    assert not np.allclose(a.image(), first)
    a.set(seed=11)
    np.testing.assert_allclose(a.image(), first, atol=1e-6)
    # the latent is the protocol's own latent for that seed
    np.testing.assert_array_equal(a.current_latent(), a.model.sample_latent(1, seed=11)[0])


def test_new_seed_jumps_to_another_seed_in_range(sampler_generator):
    e = LatentExplorer(sampler_generator, pca_samples=16, max_seed=5)
    for _ in range(10):
        before = e.seed
        assert e.new_seed() != before and 0 <= e.seed <= 5
    only = LatentExplorer(sampler_generator, pca_samples=16, max_seed=0)
    assert only.new_seed() == 0  # nowhere else to go: no endless loop


def test_label_by_index_or_name_keeps_the_latent(explorer, brain32):
    explorer.set(seed=3, label=0)
    z, first = explorer.current_latent(), explorer.image()
    explorer.set(label=brain32.class_names[2])
    assert explorer.label == 2 and explorer.state()["class_name"] == brain32.class_names[2]
    np.testing.assert_array_equal(explorer.current_latent(), z)
    assert not np.allclose(explorer.image(), first)


# -- truncation ------------------------------------------------------------------------


def test_truncation_redraws_only_the_large_latent_entries(explorer):
    explorer.set(seed=5, truncation=None)
    plain = sampling.truncated_normal(1, LATENT, seed=5)[0]
    np.testing.assert_array_equal(explorer.current_latent(), plain)
    plain_image = explorer.image()
    explorer.set(truncation=0.5)
    z = explorer.current_latent()
    assert explorer.truncation == 0.5 and np.abs(z).max() <= 0.5
    small = np.abs(plain) <= 0.5
    np.testing.assert_array_equal(z[small], plain[small])
    assert not np.allclose(explorer.image(), plain_image)
    explorer.set(seed=6)  # leaving truncation out keeps it; None turns it off
    assert explorer.truncation == 0.5
    explorer.set(truncation=None)
    assert explorer.truncation is None
    assert repr(KEEP) == "KEEP"


# -- latent directions -------------------------------------------------------------------


def test_direction_values_move_the_latent_as_documented(explorer):
    assert explorer.direction_method == "pca", explorer.direction_note
    d = explorer.directions
    assert d.shape == (3, LATENT)
    np.testing.assert_allclose(d @ d.T, np.eye(3), atol=1e-5)
    explorer.set(seed=7, directions=[0, 0, 0])
    base, image0 = explorer.current_latent(), explorer.image()
    explorer.set(directions=[2.0, 0.0, -1.5])
    np.testing.assert_allclose(explorer.current_latent(), base + 2.0 * d[0] - 1.5 * d[2], atol=1e-5)
    np.testing.assert_array_equal(explorer.base_latent(), base)  # directions do not touch the seed's latent
    assert not np.allclose(explorer.image(), image0)
    explorer.reset_directions()
    np.testing.assert_array_equal(explorer.direction_values, np.zeros(3))
    np.testing.assert_allclose(explorer.image(), image0, atol=1e-6)


def test_pca_direction_one_moves_the_image_more_than_a_random_direction(sampler_generator):
    """The first principal direction is where G's output varies most (on average)."""
    e = LatentExplorer(sampler_generator, pca_samples=128)
    rng = np.random.default_rng(0)
    random_dir = rng.standard_normal(LATENT).astype(np.float32)
    random_dir /= np.linalg.norm(random_dir)
    z = e.model.sample_latent(32, seed=99)
    labels = np.zeros(32, np.int32)
    base = e.model.generate_from_latent(z, labels)

    def change(direction):
        moved = e.model.generate_from_latent(z + 1.5 * direction[None], labels)
        return float(np.abs(moved - base).mean())

    assert change(e.directions[0]) > change(random_dir)


def test_a_generator_that_ignores_z_falls_back_to_random_directions():
    z = keras.Input((8,), name="z")
    x = keras.layers.Dense(4 * 4, kernel_initializer="zeros", bias_initializer="ones")(z)
    x = keras.layers.Reshape((4, 4, 1))(x)
    constant = keras.Model(z, keras.layers.Activation("tanh")(keras.layers.UpSampling2D(8)(x)))
    e = LatentExplorer(constant, pca_samples=16)
    assert e.direction_method == "random" and "degenerate" in e.direction_note
    np.testing.assert_allclose(e.directions @ e.directions.T, np.eye(3), atol=1e-5)
    assert LatentExplorer(constant, n_directions=0, pca_samples=16).direction_values.shape == (0,)


# -- the interpolation strip -----------------------------------------------------------


def test_strip_runs_along_the_great_circle_from_seed_to_strip_seed(explorer):
    explorer.set(seed=10, strip_seed=20, label=1, directions=[1.0, 0, 0])
    latents = explorer.strip_latents()
    np.testing.assert_allclose(latents, sampling.slerp(explorer.base_latent(10), explorer.base_latent(20),
                                                       np.linspace(0, 1, explorer.strip_length)), atol=1e-6)
    strip = explorer.strip()
    assert strip.shape == (explorer.strip_length, SIZE, SIZE, 1)
    labels = np.ones(explorer.strip_length, np.int32)
    np.testing.assert_allclose(strip, explorer.model.generate_from_latent(latents, labels), atol=1e-5)
    # the ends are the two seeds' own samples (no direction offsets), in the current class
    explorer.set(directions=[0, 0, 0])
    np.testing.assert_allclose(strip[0], explorer.image(), atol=1e-5)
    explorer.set(seed=20)
    np.testing.assert_allclose(strip[-1], explorer.image(), atol=1e-5)
    short = LatentExplorer(explorer.model, pca_samples=16, strip_length=2, seed=4)
    assert short.strip_seed == 5 and len(short.strip()) == 2


# -- nearest real training image ---------------------------------------------------------


def test_nearest_real_is_the_brute_force_nearest(explorer, brain32):
    for seed in (0, 1, 2):
        explorer.set(seed=seed)
        image = explorer.image()
        found = explorer.nearest_real(image)
        index, distance = brute_force_nearest(image, brain32.images)
        assert found.index == index
        assert found.distance == pytest.approx(distance, rel=1e-4, abs=1e-3)
        np.testing.assert_array_equal(data.to_uint8(found.image), brain32.pixels[index])
        assert found.class_name == brain32.class_names[brain32.labels[index]]
        assert (found.searched, found.total) == (len(brain32), len(brain32))
        assert found.describe().startswith(f"#{index} ({found.class_name}): L2 distance")


def test_a_memorised_sample_is_found_at_distance_zero(sampler_generator, brain32):
    """Put the generated image itself into the 'training set': the search must find it."""
    image = LatentExplorer(sampler_generator, pca_samples=16, seed=4).image()
    reals = np.concatenate([brain32.images[:50], image[None], brain32.images[50:100]])
    found = LatentExplorer(sampler_generator, dataset=reals, pca_samples=16, seed=4).nearest_real()
    assert found.index == 50 and found.distance < 1e-3 and found.class_name is None


def test_a_large_dataset_is_searched_in_a_fixed_subset(sampler_generator, brain32):
    e = LatentExplorer(sampler_generator, dataset=brain32, pca_samples=16, nearest_max=50, seed=3)
    searched = e.searched_indices
    assert len(searched) == 50 and len(np.unique(searched)) == 50
    np.testing.assert_array_equal(searched, LatentExplorer(sampler_generator, dataset=brain32, pca_samples=16,
                                                           nearest_max=50).searched_indices)
    image = e.image()
    local, distance = brute_force_nearest(image, brain32.images[searched])
    found = e.nearest_real(image)
    assert found.index == int(searched[local])  # reported in the dataset's own indexing
    assert found.distance == pytest.approx(distance, rel=1e-4, abs=1e-3)
    assert f"searched 50 of {len(brain32)}" in found.describe()


# -- any sampler: the protocol only ---------------------------------------------------------


def test_a_protocol_only_sampler_drives_it_with_options():
    model = NumpySampler(3)
    e = LatentExplorer(model, pca_samples=16, options={"contrast": 2.0})
    assert e.class_names == ["small", "medium", "large"]
    e.set(seed=8, label="large")
    z = sampling.truncated_normal(1, LATENT, seed=8)
    np.testing.assert_allclose(e.image(), model.generate_from_latent(z, [2], contrast=2.0)[0], atol=1e-6)
    assert model.calls[-2]["contrast"] == 2.0  # every draw got the option
    e.set(options={"contrast": 0.5})
    assert e.state()["options"] == {"contrast": 0.5} and len(e.strip()) == e.strip_length
    assert model.calls[-1] == {"n": e.strip_length, "contrast": 0.5}
    with pytest.raises(ValueError, match=r"'steps' is not an option of NumpySampler.*takes contrast"):
        e.set(options={"steps": 50})
    assert e.options == {"contrast": 0.5}


def test_a_generator_model_keeps_its_names_and_batch_size_is_an_option(sampler_generator, brain32):
    model = sampling.GeneratorModel(sampler_generator, num_classes=4, class_names=["a", "b", "c", "d"])
    e = LatentExplorer(model, dataset=brain32, pca_samples=32, options={"batch_size": 2})
    assert e.class_names == ["a", "b", "c", "d"]  # the model's names win over the dataset's
    e.set(seed=12, label=3, truncation=0.7)
    np.testing.assert_allclose(e.image(), model.generate(1, labels=[3], seed=12, truncation=0.7)[0], atol=1e-5)
    np.testing.assert_allclose(e.strip(), model.generate_from_latent(e.strip_latents(), 3), atol=1e-5)


def test_a_gan_drives_it_with_its_ema_generator(sampler_generator):
    discriminator = models.build_discriminator(SIZE, 1, num_classes=4, base_filters=8)
    gan = gan_module.GAN(sampler_generator, discriminator, latent_dim=LATENT, num_classes=4)
    e = LatentExplorer(gan, pca_samples=16)
    e.set(seed=5, label=2)
    np.testing.assert_allclose(e.image(), gan.generate(1, labels=[2], seed=5)[0], atol=1e-5)
    if gan.ema_generator is not None:  # move the EMA weights: the next image must follow them
        gan.ema_generator.set_weights([w * 0.5 for w in gan.ema_generator.get_weights()])
        np.testing.assert_allclose(e.image(), gan.generate(1, labels=[2], seed=5)[0], atol=1e-5)


# -- bad input: input, problem and fix named; the state is left as it was ---------------------------


def test_bad_settings_give_clear_errors_and_change_nothing(explorer, brain32):
    explorer.set(seed=3, label=1, truncation=1.0)
    before = explorer.state()
    cases = [
        ({"label": "liver"}, r"label='liver' is not a class of this model; choose one of \["),
        ({"label": 9}, r"label=9: choose a class index 0…3"),
        ({"label": 1.5}, r"label=1.5: give a class index"),
        ({"seed": 1000}, r"seed=1000 is outside the seed range 0…999.*max_seed=1000"),
        ({"seed": -1}, r"seed=-1 is outside the seed range"),
        ({"seed": 2.5}, r"seed=2.5 is not a whole number"),
        ({"strip_seed": 5000}, r"strip_seed=5000 is outside"),
        ({"truncation": 0}, r"truncation=0 must be a number > 0.*None to turn truncation off"),
        ({"truncation": "strong"}, r"truncation='strong' must be a number > 0"),
        ({"directions": [1.0]}, r"got 1 values for 3 latent directions"),
        ({"directions": [np.nan, 0, 0]}, r"not finite"),
        ({"seed": 4, "options": {"labels": 1}}, r"'labels' is not an option"),
    ]
    for settings, message in cases:
        with pytest.raises(ValueError, match=message):
            explorer.set(**settings)
        assert explorer.state() == before, settings
    unconditional = LatentExplorer(NumpySampler(None), pca_samples=16)
    with pytest.raises(ValueError, match="unconditional.*Leave label out"):
        unconditional.set(label=0)
    with pytest.raises(ValueError, match="no real images to search.*dataset="):
        unconditional.nearest_real()
    with pytest.raises(ValueError, match=r"image has shape \(8, 8, 1\)"):
        explorer.nearest_real(np.zeros((8, 8, 1), np.float32))


def test_bad_construction_gives_clear_errors(sampler_generator, brain32):
    bigger = data.load_dataset("brain-mri", image_size=64, split="train")
    with pytest.raises(ValueError, match=r"holds 64x64 px images.*32x32 px.*image_size=32"):
        LatentExplorer(sampler_generator, dataset=bigger)
    with pytest.raises(ValueError, match=r"shape \(5, 32, 32\); pass an ImageSet"):
        LatentExplorer(sampler_generator, dataset=np.zeros((5, SIZE, SIZE)))
    rgb = models.build_generator(SIZE, 3, LATENT, num_classes=4, base_filters=8, max_filters=32)
    with pytest.raises(ValueError, match="1 channel.*generates 3"):
        LatentExplorer(rgb, dataset=brain32)
    three = models.build_generator(SIZE, 1, LATENT, num_classes=3, base_filters=8, max_filters=32)
    with pytest.raises(ValueError, match=r"4 classes.*trained\s+with 3.*the dataset the model was trained on"):
        LatentExplorer(three, dataset=brain32)
    with pytest.raises(ValueError, match="strip_length=1.*strip_length=2 or more"):
        LatentExplorer(sampler_generator, strip_length=1)
    with pytest.raises(ValueError, match="seed=7 is outside the seed range 0…5"):
        LatentExplorer(sampler_generator, seed=7, max_seed=5, pca_samples=16)
    with pytest.raises(ValueError, match="'steps' is not an option of GeneratorModel"):
        LatentExplorer(sampler_generator, options={"steps": 10}, pca_samples=16)
    with pytest.raises(TypeError, match="sampler protocol"):
        LatentExplorer(object())
    with pytest.raises(TypeError, match="generator"):
        LatentExplorer(models.build_discriminator(SIZE, 1, base_filters=8))
