"""Notebook 04's exercise checks accept right answers and reject wrong ones.

Exercises 3-5 (R1, LSGAN, an ablation) change the training and measure it: their tests
run the notebook's printed solutions with its quick settings, train for real, and are
marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers import exercises
from medgan_helpers.exercises import nb04
from tests.helpers import ROOT, assert_checks_reexported, solution_blocks


def test_nb04_checks_are_reexported():
    assert_checks_reexported("04")


def test_nb04_ex1_hinge_loss():
    assert nb04.check_hinge_loss(1.5) and not nb04.check_hinge_loss(0.75)
    assert not nb04.check_hinge_loss("one and a half")


def test_nb04_ex2_generator_loss(capsys):
    from keras import ops

    assert nb04.check_generator_loss(lambda x: ops.mean(ops.softplus(-x)))
    assert not nb04.check_generator_loss(lambda x: ops.mean(-ops.softplus(x)))  # saturating form
    assert "saturating" in capsys.readouterr().out
    assert not nb04.check_generator_loss(lambda x: 1 / 0)


def test_nb04_ema_and_discriminator_update_checks():
    """Two checks no exercise calls yet."""
    ema = 0.0
    for _ in range(10):
        ema = 0.9 * ema + 0.1
    assert nb04.check_ema_after_steps(ema) and not nb04.check_ema_after_steps(0.9)
    assert nb04.check_discriminator_updates(150) and not nb04.check_discriminator_updates(75)


# ----------------------------------------------------------------- exercises 3-5: train and measure
@pytest.fixture(scope="module")
def notebook_04_namespace(tmp_path_factory):
    """What notebook 04's exercise cells see, with its quick-mode settings."""
    import keras
    from keras import ops

    import medgan_helpers as mg
    from medgan_helpers import config, data, gan, models, training

    recipe = training.default_config(quick=True)
    images = training.quick_subset(data.load_dataset("brain-mri", image_size=32, split="train", seed=0), 800)
    return {
        "np": np, "keras": keras, "ops": ops, "config": config, "data": data, "models": models, "gan": gan,
        "training": training, "mg": mg, "exercises": exercises, "GAN": gan.GAN, "RECIPE": recipe, "SEED": 0,
        "LATENT_DIM": recipe["latent_dim"], "G_FILTERS": recipe["g_base_filters"],
        "D_FILTERS": recipe["d_base_filters"], "MAX_FILTERS": recipe["max_filters"],
        "BATCH_SIZE": recipe["batch_size"], "EX_IMAGES": images,
        "EX_KNOBS": {**recipe, "epochs": 6, "max_images": None, "seed": 0},
        "EX_RUN": {"verbose": 0, "display": False, "resume": False},
    }


def _notebook_04_block(index: int) -> str:
    blocks = solution_blocks("04_training_with_train_step.py")
    assert len(blocks) == 4  # exercise 2 (the G loss), then 3 (R1), 4 (LSGAN), 5 (ablation)
    return blocks[index]


def test_nb04_settings_match_the_fixture():
    text = (ROOT / "notebooks" / "src" / "04_training_with_train_step.py").read_text()
    assert 'config.quick_or(1200, 800))' in text and '"epochs": config.quick_or(10, 6)' in text


@pytest.mark.slow
def test_nb04_ex3_r1(notebook_04_namespace):
    from medgan_helpers import training

    ns = dict(notebook_04_namespace)
    exec(_notebook_04_block(1), ns)
    with_r1, without_r1, images = ns["with_r1"], ns["without_r1"], ns["EX_IMAGES"]
    assert nb04.check_r1_effect(with_r1, without_r1, images)
    assert nb04.real_gradient_norm(with_r1, images) < nb04.real_gradient_norm(without_r1, images)
    assert not nb04.check_r1_effect(without_r1, with_r1, images)  # swapped
    assert not nb04.check_r1_effect(with_r1, with_r1, images)  # no run without R1
    assert not nb04.check_r1_effect(None, None, images)
    with_sn = training.train(images, **{**ns["EX_KNOBS"], "epochs": 1, "r1_weight": 10.0}, **ns["EX_RUN"])
    assert not nb04.check_r1_effect(with_sn, without_r1, images)  # spectral norm still on


def _mean_square(x):
    return float(np.mean(np.square(np.asarray(x, np.float64))))


@pytest.mark.slow
def test_nb04_ex4_lsgan(notebook_04_namespace):
    from medgan_helpers import gan, losses

    ns = dict(notebook_04_namespace)
    exec(_notebook_04_block(2), ns)
    d_loss, g_loss, model, images = ns["lsgan_d_loss"], ns["lsgan_g_loss"], ns["lsgan"], ns["EX_IMAGES"]
    assert nb04.check_lsgan(d_loss, g_loss, model, images)
    on_real, on_fake = nb04.d_scores(model, images)
    assert -0.5 < on_fake < on_real < 1.5
    assert nb04.check_lsgan(d_loss, g_loss)  # the formulas alone
    assert not nb04.check_lsgan(losses.d_loss_hinge, losses.g_loss_mean)
    assert not nb04.check_lsgan(lambda r, f: 2 * d_loss(r, f), g_loss)
    assert not nb04.check_lsgan(d_loss, lambda f: 0.5 * _mean_square(f))  # G aims at 0, not 1
    untrained = gan.GAN(model.generator, model.discriminator, model.latent_dim, model.num_classes)
    untrained.compile(d_loss_fn=d_loss, g_loss_fn=g_loss)
    assert not nb04.check_lsgan(d_loss, g_loss, untrained, images)  # never fitted
    assert not nb04.check_lsgan(lambda r, f: d_loss(r, f), g_loss, model, images)  # not the compiled function


@pytest.mark.slow
def test_nb04_ex5_ablation(notebook_04_namespace, capsys):
    from medgan_helpers import training

    ns = dict(notebook_04_namespace)
    exec(_notebook_04_block(3), ns)
    full, other, ablated, images, extractor = (ns["recipe_run"], ns["recipe_other_seed"], ns["ablated_run"],
                                               ns["EX_IMAGES"], ns["extractor"])
    effect, spread, reading = ns["effect_fd"], ns["spread_fd"], ns["reading"]
    runs = (full, other, ablated, images, extractor)
    capsys.readouterr()
    assert nb04.check_ablation(effect, spread, reading, *runs)
    told = capsys.readouterr().out
    assert f"{ns['scores']['recipe']['fd']:.2f}" in told  # the right answer shows the measurements
    flipped = "within noise" if reading == "beyond noise" else "beyond noise"
    for wrong in ((effect, spread, flipped), (effect + 1.0, spread, reading), (effect, spread + 1.0, reading),
                  (effect, spread, "maybe")):
        assert not nb04.check_ablation(*wrong, *runs)
        hint = capsys.readouterr().out
        # a wrong answer is told how to compute it, never the numbers to copy
        for number in (ns["scores"]["ablated"]["fd"], ns["scores"]["other seed"]["fd"]):
            assert f"{number:.2f}" not in hint, hint
    assert not nb04.check_ablation(None, None, None, None, None, None, images, extractor)
    assert not nb04.check_ablation(effect, spread, reading, full, other, full, images, extractor)  # nothing off
    assert not nb04.check_ablation(effect, spread, reading, full, full, ablated, images, extractor)  # one seed
    # the claim of the solution: with EMA off, training is the same; only the sampled weights differ
    for w_full, w_ablated in zip(full.gan.generator.get_weights(), ablated.gan.generator.get_weights()):
        np.testing.assert_allclose(w_full, w_ablated, rtol=1e-5, atol=1e-6)
    both_off = training.train(images, **{**ns["EX_KNOBS"], "epochs": 1, "ema_decay": None, "augment": None},
                              **ns["EX_RUN"])
    assert not nb04.check_ablation(effect, spread, reading, full, other, both_off, images, extractor)
