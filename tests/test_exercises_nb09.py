"""The exercises that change something and measure it (issue 14): each check passes with the
solution printed in its notebook and fails with wrong answers.

Notebooks 01 (aliasing), 07 (copy threshold, FD sample size, truncation), 09 (theory and the
health monitor) and 04 (R1, LSGAN, an ablation — these train for real and are marked slow).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import callbacks, evaluation, exercises
from medgan_helpers.exercises import nb01, nb07, nb09
from tests.helpers import blob_set, tiny_gan

ROOT = Path(__file__).resolve().parents[1]


def solution_blocks(source_name: str) -> list[str]:
    """The ```python blocks inside the <details> solutions of a notebook source."""
    text = (ROOT / "notebooks" / "src" / source_name).read_text()
    markdown = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines())
    blocks = []
    for details in re.findall(r"<details><summary>Solution</summary>(.*?)</details>", markdown, re.S):
        blocks += re.findall(r"```python\n(.*?)```", details, re.S)
    return blocks


def test_new_checks_are_reexported():
    for name in ("check_downsample", "check_copy_threshold", "check_fd_sample_size", "check_truncated_diversity",
                 "check_js_divergence", "check_generator_gradients", "check_health_mystery",
                 "check_r1_effect", "check_lsgan", "check_ablation"):
        assert callable(getattr(exercises, name)), name


# ------------------------------------------------------------------------------- notebook 01
def _block_mean(image, factor):
    h, w = image.shape
    return image.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def test_downsample_check_accepts_anti_aliasing_and_rejects_subsampling():
    from PIL import Image

    assert nb01.check_downsample(_block_mean)
    assert nb01.check_downsample(lambda im, f: np.asarray(
        Image.fromarray(im.astype(np.float32)).resize((im.shape[1] // f, im.shape[0] // f), Image.BOX)))
    assert not nb01.check_downsample(lambda im, f: im[::f, ::f])  # the notebook's starting point
    assert not nb01.check_downsample(lambda im, f: im[1::f, 2::f])
    assert not nb01.check_downsample(lambda im, f: _block_mean(im, f) * f * f)  # summed, not averaged
    assert not nb01.check_downsample(lambda im, f: im)  # wrong shape
    assert not nb01.check_downsample(lambda im, f: 1 / 0)


def test_downsampling_scores_measure_what_they_say():
    subsampled = nb01.downsampling_scores(lambda im, f: im[::f, ::f])
    averaged = nb01.downsampling_scores(_block_mean)
    assert subsampled["aliasing"] == pytest.approx(subsampled["aliasing_subsampling"])
    assert averaged["aliasing"] < 0.3 * subsampled["aliasing"]
    assert averaged["difference_to_kit"] < subsampled["difference_to_kit"]


def test_notebook_01_solution_passes_exercise_3():
    (block,) = [b for b in solution_blocks("01_data_preparation.py") if "def my_downsample" in b]
    namespace = {"np": np}
    exec(block, namespace)
    assert nb01.check_downsample(namespace["my_downsample"])


# ------------------------------------------------------------------------------- notebook 07
def test_notebook_07_solutions_pass_their_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path))
    train, test = blob_set(80, seed=0), blob_set(40, seed=1)
    gan = tiny_gan()
    fakes = np.clip(blob_set(48, seed=3).images + np.random.default_rng(3).normal(0, 0.1, (48, 32, 32, 1)),
                    -1, 1).astype(np.float32)
    EVAL = evaluation.settings(quick=True)  # noqa: N806 (the notebook's name)
    EVAL["feature_epochs"] = 1
    namespace = {"np": np, "evaluation": evaluation, "callbacks": callbacks, "EVAL": EVAL, "train": train,
                 "test": test, "fakes": fakes, "gan": gan}
    blocks = solution_blocks("07_your_own_data.py")
    assert len(blocks) == 3
    for block in blocks:
        exec(block, namespace)
    assert nb07.check_copy_threshold(namespace["copies_at_5"], fakes, train, test, percentile=5)
    assert nb07.check_fd_sample_size(namespace["fd_20"], namespace["fd_all"], namespace["extractor"], train, fakes)
    assert nb07.check_truncated_diversity(namespace["ratio_plain"], namespace["ratio_truncated"], 0.5, gan, train)
    # the notebook's starting values are wrong answers
    assert not nb07.check_copy_threshold(None, fakes, train, test, percentile=5)
    assert not nb07.check_fd_sample_size(None, None, namespace["extractor"], train, fakes)
    assert not nb07.check_truncated_diversity(None, None, 0.5, gan, train)


# ------------------------------------------------------------------------------- notebook 09
def test_js_divergence_check():
    assert nb09.check_js_divergence(nb09.js_divergence)
    assert not nb09.check_js_divergence(lambda p, q: 0.0)
    assert not nb09.check_js_divergence(lambda p, q: nb09.js_divergence(p, q) / np.log(2))  # bits
    naive = lambda p, q: 0.5 * np.sum(p * np.log(p / ((p + q) / 2))) + 0.5 * np.sum(q * np.log(q / ((p + q) / 2)))  # noqa: E731
    assert not nb09.check_js_divergence(naive)  # NaN where p or q is 0
    assert not nb09.check_js_divergence(lambda p, q: 0.5 * np.sum(p * np.log(np.maximum(p, 1e-300) / q)))  # KL
    assert not nb09.check_js_divergence("not a function")


def test_js_divergence_reference():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    assert nb09.js_divergence(p, p[::-1]) == pytest.approx(np.log(2))
    assert nb09.js_divergence(p, p) == pytest.approx(0.0)


def test_generator_gradients_check():
    def right(logit):
        s = 1 / (1 + np.exp(-logit))
        return -s, -(1 - s)

    assert nb09.check_generator_gradients(right)
    assert not nb09.check_generator_gradients(lambda logit: (0.0, 0.0))
    assert not nb09.check_generator_gradients(lambda logit: tuple(-g for g in right(logit)))  # signs
    assert not nb09.check_generator_gradients(lambda logit: right(logit)[::-1])  # swapped
    assert not nb09.check_generator_gradients(lambda logit: right(logit)[0])  # one number


def test_notebook_09_solutions_pass_their_checks():
    blocks = solution_blocks("09_gan_theory_and_failure_modes.py")
    namespace = {"np": np}
    for block in blocks:
        exec(block, namespace)
    assert nb09.check_js_divergence(namespace["js_divergence"])
    assert nb09.check_generator_gradients(namespace["generator_gradients"])


def test_health_mystery_uses_the_stored_gallery():
    gallery = json.loads((ROOT / "docs" / "gallery" / "gallery.json").read_text())
    hidden = nb09.health_mystery(gallery)
    assert set(hidden) == {"A", "B", "C"}
    right = dict(zip("ABC", nb09.MYSTERY_CASES))
    assert nb09.check_health_mystery(right, gallery)
    shuffled = dict(zip("ABC", nb09.MYSTERY_CASES[1:] + nb09.MYSTERY_CASES[:1]))
    assert not nb09.check_health_mystery(shuffled, gallery)
    assert not nb09.check_health_mystery({"A": None, "B": None, "C": None}, gallery)
    assert not nb09.check_health_mystery({"A": "baseline"}, gallery)
    # the readings really are the stored last records, names hidden
    for letter, case in right.items():
        assert hidden[letter] == gallery["cases"][case]["records"][-1]


# ------------------------------------------------------------------------------- notebook 04
@pytest.fixture(scope="module")
def notebook_04_namespace(tmp_path_factory):
    """What notebook 04's exercise cells see, with its quick-mode settings."""
    import keras
    from keras import ops

    from medgan_helpers import config, data, gan, models, training

    recipe = training.default_config(quick=True)
    images = training.quick_subset(data.load_dataset("brain-mri", image_size=32, split="train", seed=0), 800)
    return {
        "np": np, "keras": keras, "ops": ops, "config": config, "data": data, "models": models, "gan": gan,
        "training": training, "exercises": exercises, "GAN": gan.GAN, "RECIPE": recipe, "SEED": 0,
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


def test_notebook_04_settings_match_the_fixture():
    text = (ROOT / "notebooks" / "src" / "04_training_with_train_step.py").read_text()
    assert 'config.quick_or(1200, 800))' in text and '"epochs": config.quick_or(10, 6)' in text


@pytest.mark.slow
def test_r1_exercise(notebook_04_namespace):
    from medgan_helpers import training
    from medgan_helpers.exercises import nb04

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


@pytest.mark.slow
def test_lsgan_exercise(notebook_04_namespace):
    from medgan_helpers import gan
    from medgan_helpers.exercises import nb04

    ns = dict(notebook_04_namespace)
    exec(_notebook_04_block(2), ns)
    d_loss, g_loss, model, images = ns["lsgan_d_loss"], ns["lsgan_g_loss"], ns["lsgan"], ns["EX_IMAGES"]
    assert nb04.check_lsgan(d_loss, g_loss, model, images)
    on_real, on_fake = nb04.d_scores(model, images)
    assert -0.5 < on_fake < on_real < 1.5
    assert nb04.check_lsgan(d_loss, g_loss)  # the formulas alone
    assert not nb04.check_lsgan(gan.d_loss_hinge, gan.g_loss_mean)
    assert not nb04.check_lsgan(lambda r, f: 2 * d_loss(r, f), g_loss)
    assert not nb04.check_lsgan(d_loss, lambda f: 0.5 * ops_mean_square(f))  # G aims at 0, not 1
    untrained = gan.GAN(model.generator, model.discriminator, model.latent_dim, model.num_classes)
    untrained.compile(d_loss_fn=d_loss, g_loss_fn=g_loss)
    assert not nb04.check_lsgan(d_loss, g_loss, untrained, images)  # never fitted
    assert not nb04.check_lsgan(lambda r, f: d_loss(r, f), g_loss, model, images)  # not the compiled function


def ops_mean_square(x):
    return float(np.mean(np.square(np.asarray(x, np.float64))))


@pytest.mark.slow
def test_ablation_exercise(notebook_04_namespace):
    from medgan_helpers import training
    from medgan_helpers.exercises import nb04

    ns = dict(notebook_04_namespace)
    exec(_notebook_04_block(3), ns)
    full, other, ablated, images, extractor = (ns["recipe_run"], ns["recipe_other_seed"], ns["ablated_run"],
                                               ns["EX_IMAGES"], ns["extractor"])
    effect, reading = ns["effect_fd"], ns["reading"]
    assert nb04.check_ablation(effect, reading, full, other, ablated, images, extractor)
    flipped = "within noise" if reading == "beyond noise" else "beyond noise"
    assert not nb04.check_ablation(effect, flipped, full, other, ablated, images, extractor)
    assert not nb04.check_ablation(effect + 1.0, reading, full, other, ablated, images, extractor)
    assert not nb04.check_ablation(None, None, None, None, None, images, extractor)
    assert not nb04.check_ablation(effect, reading, full, other, full, images, extractor)  # nothing switched off
    assert not nb04.check_ablation(effect, reading, full, full, ablated, images, extractor)  # one seed only
    # the claim of the solution: with EMA off, training is the same; only the sampled weights differ
    for w_full, w_ablated in zip(full.gan.generator.get_weights(), ablated.gan.generator.get_weights()):
        np.testing.assert_allclose(w_full, w_ablated, rtol=1e-5, atol=1e-6)
    both_off = training.train(images, **{**ns["EX_KNOBS"], "epochs": 1, "ema_decay": None, "augment": None},
                              **ns["EX_RUN"])
    assert not nb04.check_ablation(effect, reading, full, other, both_off, images, extractor)
