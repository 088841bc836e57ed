"""One typed config per model family makes the whole round trip unchanged.

recipe (``recipe.gan_config`` / ``pix2pix_config``) -> training -> run folder
(config.json) -> ``runs.load_*`` -> the same config and the same samples. Runs
written before the typed configs (the shipped model, old runs) still load, and
``train()`` reports the accelerator setup it used without changing Keras'
global precision policy.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from medgan_helpers import accel, gan, models, pix2pix, recipe, runs, training
from medgan_helpers.fileio import write_json
from tests.helpers import LATENT, SIZE, blob_set
from tests.test_pix2pix import TINY, tiny_pairs

TINY_GAN = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 16, "latent_dim": LATENT,
            "g_base_filters": 4, "d_base_filters": 4, "max_filters": 8}


# --------------------------------------------------------------------------- the configs themselves


def test_one_function_builds_each_config_and_its_json_form_round_trips():
    cfg = recipe.gan_config(quick=True, loss="bce").for_data(SIZE, 1, ["a", "b", "c"])
    assert cfg.epochs == recipe.GAN_QUICK["epochs"] and cfg.loss == "bce" and cfg.num_classes == 3
    again = recipe.GANConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.class_names == ("a", "b", "c")
    assert recipe.gan_config(loss="wgan-gp").gp_weight == 10.0  # WGAN-GP's critic needs its penalty
    with pytest.raises(ValueError, match="unknown training knob"):
        recipe.gan_config(epoch=3)
    with pytest.raises(ValueError, match="ada_target"):
        recipe.gan_config(ada_target=1.5)

    p2p = recipe.pix2pix_config(quick=True, l1_weight=10)
    assert recipe.Pix2PixConfig.from_dict(json.loads(json.dumps(p2p.to_dict()))) == p2p
    assert pix2pix.knobs(quick=True, l1_weight=10) == p2p.knobs()  # notebook 08's name delegates
    with pytest.raises(ValueError, match="unknown pix2pix knob"):
        recipe.pix2pix_config(lambda_l1=10)


def test_presets_change_only_their_knobs_and_quick_wins():
    full, lab = recipe.gan_config(), recipe.gan_config(preset="lab")
    assert lab.epochs == 10 < full.epochs
    assert lab.replace(epochs=full.epochs) == full  # nothing else differs
    assert recipe.gan_config(quick=True, preset="lab") == recipe.gan_config(quick=True)
    assert recipe.gan_config(preset="lab", epochs=5).epochs == 5  # overrides beat the preset
    assert training.default_config(preset="lab") == lab.knobs()
    with pytest.raises(ValueError, match="unknown preset 'class'.*full.*lab.*quick"):
        recipe.gan_config(preset="class")


def test_the_gan_and_the_builders_take_their_defaults_from_the_recipe():
    G = models.build_generator(SIZE, 1, LATENT, 3, base_filters=4, max_filters=8)
    D = models.build_discriminator(SIZE, 1, 3, base_filters=4, max_filters=8)
    model = gan.GAN(G, D, LATENT, 3)
    default = recipe.GANConfig()
    for name in ("ada_target", "ema_decay", "d_steps", "r1_every", "augment", "seed"):
        assert getattr(model.config, name) == getattr(default, name), name
    assert model.ada_target == default.ada_target == 0.6  # once None here and 0.6 in the recipe
    assert model.config.image_size == SIZE and model.config.channels == 1
    assert models.build_generator().count_params() == models.rebuild(default.for_data(64, 1).generator_settings()) \
        .count_params()


def test_from_config_rebuilds_the_same_networks_and_settings():
    cfg = recipe.gan_config(**TINY_GAN, ada_target=None).for_data(SIZE, 1, ["a", "b", "c"])
    keras.utils.set_random_seed(0)
    model = gan.GAN.from_config(cfg)
    assert model.config == cfg and model.class_names == ["a", "b", "c"] and model.ada_target is None
    again = gan.GAN.from_config(json.loads(json.dumps(model.get_config())))
    assert again.config == model.config
    for role in ("generator", "discriminator"):
        assert models.build_settings(getattr(again, role)) == models.build_settings(getattr(model, role))
        assert [w.shape for w in getattr(again, role).weights] == [w.shape for w in getattr(model, role).weights]
    with pytest.raises(ValueError, match="no builder"):
        models.rebuild({"builder": "nowhere.build", "image_size": 32})


# --------------------------------------------------------------------------- recipe -> train -> save -> load


@pytest.mark.slow
def test_gan_recipe_train_save_load_gives_the_same_samples(artifacts):
    cfg = recipe.gan_config(quick=True, **TINY_GAN)
    images = blob_set(64, classes=3)
    result = training.train(images, config=cfg, verbose=0, display=False)
    assert result.config == cfg.for_data(SIZE, 1, images.class_names)  # nothing copied by hand on the way
    saved = result.run.config
    assert saved["knobs"] == cfg.knobs() == recipe.gan_config(quick=True, **TINY_GAN).knobs()
    assert recipe.GANConfig.from_dict(runs.model_config(saved)) == result.config
    assert saved["accelerator"] == result.accel.as_dict()  # the setup train() chose is on record

    loaded = runs.load_gan(result.run.path)
    assert loaded.config == result.config
    np.testing.assert_array_equal(loaded.generate(6, seed=3), result.gan.generate(6, seed=3))
    assert int(loaded.g_optimizer.iterations.numpy()) == 2  # it can keep training where it stopped
    sampler = runs.load_generator(result.run.path)
    np.testing.assert_array_equal(sampler.generate(6, seed=3), result.gan.generate(6, seed=3))
    assert sampler.class_names == result.gan.class_names


@pytest.mark.slow
def test_pix2pix_recipe_train_save_load_gives_the_same_outputs(tmp_path):
    cfg = recipe.pix2pix_config(quick=True, epochs=1, max_pairs=16, **TINY)
    pairs = tiny_pairs(16)
    trained = pix2pix.train(pairs, **cfg.knobs())
    assert trained.model.config.knobs() == cfg.knobs()
    run = pix2pix.save(trained.model, tmp_path / "run", steps=trained.steps)
    loaded = runs.load_model(run.path)
    assert isinstance(loaded, pix2pix.Pix2Pix) and loaded.config == trained.model.config
    probe = pairs.input_images[:4]
    np.testing.assert_array_equal(loaded.translate(probe), trained.model.translate(probe))
    with pytest.raises(ValueError, match="not a gan run"):
        runs.load_gan(run.path)


# --------------------------------------------------------------------------- runs written by the old code


def _old_style_run(folder, model: gan.GAN) -> None:
    """A run folder laid out as the kit wrote it before typed configs (schema 2, 2026-11)."""
    folder.mkdir()
    model.generator.save_weights(folder / runs.EMA_WEIGHTS)
    old_settings = {role: {k: v for k, v in models.build_settings(getattr(model, role)).items() if k != "builder"}
                    for role in ("generator", "discriminator")}
    write_json(folder / runs.CONFIG, {
        "schema": runs.SCHEMA, "kind": "run", "dataset": "blobs", "image_size": SIZE, "channels": 1,
        "status": "finished", "models": old_settings,
        "knobs": {**recipe.GAN_DEFAULTS, "latent_dim": LATENT, "epochs": 7, "augment": "medical"},
        "gan": {"latent_dim": LATENT, "num_classes": 3, "class_names": ["a", "b", "c"], "loss": "hinge",
                "augment": ["translation", "cutout"], "ada_target": None, "ada_images": 20000,
                "ema_decay": None, "d_steps": 1, "gp_weight": 0.0, "r1_weight": 0.0, "r1_every": 4,
                "diversity_weight": 0.0, "seed": 5, "image_size": SIZE, "channels": 1},
    })


def test_a_run_written_by_the_old_code_loads_into_the_new_config(tmp_path):
    G = models.build_generator(SIZE, 1, LATENT, 3, base_filters=4, max_filters=8)
    D = models.build_discriminator(SIZE, 1, 3, base_filters=4, max_filters=8)
    made = gan.GAN(G, D, LATENT, 3, ema_decay=None, class_names=["a", "b", "c"])
    _old_style_run(tmp_path / "old", made)

    loaded = runs.load_gan(tmp_path / "old", compile=False)
    cfg = loaded.config
    assert (cfg.epochs, cfg.seed, cfg.ada_target, cfg.ema_decay) == (7, 5, None, None)
    assert cfg.augment == ("translation", "cutout") and cfg.class_names == ("a", "b", "c")
    np.testing.assert_array_equal(loaded.generate(4, seed=1), made.generate(4, seed=1))
    np.testing.assert_array_equal(runs.load_generator(tmp_path / "old").generate(4, seed=1), made.generate(4, seed=1))


@pytest.mark.parametrize("folder", ["data/pretrained/brain-mri-64", "tests/fixtures/collapsed-brain-mri-64"])
def test_shipped_generators_read_into_the_new_config(folder):
    from tests.helpers import ROOT

    saved = runs.RunFolder(ROOT / folder).config
    cfg = recipe.GANConfig.from_dict(runs.model_config(saved))
    assert (cfg.latent_dim, cfg.num_classes, cfg.image_size, cfg.channels) == (64, 4, 64, 1)
    assert len(cfg.class_names) == 4
    sampler = runs.load_generator(ROOT / folder)
    assert sampler.generate(2, seed=0).shape == (2, 64, 64, 1)


# --------------------------------------------------------------------------- the accelerator setup


@pytest.mark.slow
def test_train_reports_its_accelerator_setup_and_leaves_the_global_policy_alone(artifacts):
    import tensorflow as tf

    before = keras.mixed_precision.global_policy().name
    setup = accel.AccelSetup(strategy=tf.distribute.get_strategy(), mixed_precision=True, xla=False,
                             device="test device", kind="custom")
    result = training.train(blob_set(32, classes=None), verbose=0, display=False, accel_setup=setup,
                            **{**TINY_GAN, "steps_per_epoch": 1})
    assert keras.mixed_precision.global_policy().name == before  # set for building only, then restored
    assert result.accel is setup and "test device" in repr(result)
    assert result.gan.generator.get_layer("latent_to_features").dtype_policy.name == "mixed_float16"
    reported = result.run.config["accelerator"]
    assert reported["policy"] == "mixed_float16" and reported["device"] == "test device" and not reported["xla"]
