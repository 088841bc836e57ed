"""Notebook 10's exercise checks (diffusion beside the GAN) pass with the solutions printed in
the notebook and fail with wrong answers.

The sampler is an untrained 32 px, 4-class denoiser whose output layer is random instead of
zero, so its images depend on the number of steps, the class and the guidance scale, as a
trained one's do (32 px: MS-SSIM needs at least 28)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers import diffusion, evaluation, recipe
from medgan_helpers.exercises import nb10
from tests.helpers import assert_checks_reexported, blob_set, solution_blocks

SOURCE = "10_diffusion_beside_the_gan.py"
PX = 32
#: 16 channels: with the denoiser's 8 group-norm groups, 2 channels a group keep the time and class
#: shifts (with 1 channel a group the norm after the shift removes them, and the class would not matter)
TINY = {"base_filters": 16, "max_filters": 16, "depth": 2, "time_dim": 8, "sample_steps": 3}


@pytest.fixture(scope="module")
def sampler() -> diffusion.DiffusionSampler:
    cfg = recipe.diffusion_config(**TINY).for_data(PX, 1, [f"c{i}" for i in range(4)])
    keras.utils.set_random_seed(0)
    model = diffusion.Diffusion.from_config(cfg.replace(ema_decay=None))
    kernel = model.generator.get_layer("noise").kernel
    kernel.assign(np.random.default_rng(0).normal(0, 0.3, kernel.shape).astype("float32"))
    return model.as_sampler()


@pytest.fixture(scope="module")
def real():
    return blob_set(160, size=PX, classes=4, seed=0), blob_set(60, size=PX, classes=4, seed=1)


def solutions() -> list[str]:
    blocks = solution_blocks(SOURCE)
    assert len(blocks) == 3, "notebook 10 prints three solutions (exercises 1-3)"
    return blocks


def test_nb10_checks_are_reexported():
    assert_checks_reexported("10")


# ----------------------------------------------------------------- exercise 1: steps against detail
def test_nb10_ex1_solution_passes(sampler, real):
    real_train, _ = real
    namespace = {"np": np, "evaluation": evaluation, "diffusion_sampler": sampler, "real_train": real_train}
    exec(solutions()[0], namespace)
    assert set(namespace["my_hf"]) == {2, 20}
    assert nb10.check_steps_vs_detail(sampler, real_train.images, namespace["my_hf"], namespace["my_closest"])


def test_nb10_ex1_rejects_wrong_answers(sampler, real):
    images = real[0].images
    right = {k: nb10.steps_detail(sampler, images, k) for k in (2, 20)}
    assert right[2] != pytest.approx(right[20], rel=1e-3)  # the steps change the images
    closest = min(right, key=lambda k: abs(right[k] - 1))
    other = 20 if closest == 2 else 2
    assert nb10.check_steps_vs_detail(sampler, images, right, closest)
    assert not nb10.check_steps_vs_detail(sampler, images, right, other)  # the reading must follow the numbers
    assert not nb10.check_steps_vs_detail(sampler, images, {2: right[20], 20: right[2]}, closest)  # swapped
    labels = evaluation.balanced_labels(nb10.STEPS_IMAGES, 4)
    seed0 = {k: evaluation.high_frequency_ratio(sampler.generate(nb10.STEPS_IMAGES, labels=labels, seed=0, steps=k),
                                                images) for k in (2, 20)}
    assert not nb10.check_steps_vs_detail(sampler, images, seed0, closest)  # another seed: other images
    assert not nb10.check_steps_vs_detail(sampler, images, {2: right[2]}, 2)  # one number of steps
    assert not nb10.check_steps_vs_detail(sampler, images, {"2": right[2], "20": right[20]}, closest)
    assert not nb10.check_steps_vs_detail(None, images, right, closest)
    assert not nb10.check_steps_vs_detail(sampler, images, None, None)


# ----------------------------------------------------------------- exercise 2: guidance against variety
def test_nb10_ex2_solution_passes(sampler):
    namespace = {"np": np, "evaluation": evaluation, "diffusion_sampler": sampler, "SAMPLE_STEPS": 3}
    exec(solutions()[1], namespace)
    assert nb10.check_guidance_vs_diversity(sampler, namespace["my_ms_ssim"], namespace["my_more_alike"],
                                            label=2, steps=3)


def test_nb10_ex2_rejects_wrong_answers(sampler):
    right = {w: nb10.guidance_ms_ssim(sampler, w, 2, 3) for w in (1.0, 3.0)}
    assert right[1.0] != pytest.approx(right[3.0], rel=1e-3)  # guidance changes the images
    alike = right[3.0] > right[1.0]
    assert nb10.check_guidance_vs_diversity(sampler, right, alike, label=2, steps=3)
    assert not nb10.check_guidance_vs_diversity(sampler, right, not alike, label=2, steps=3)  # the reading
    assert not nb10.check_guidance_vs_diversity(sampler, right, "yes", label=2, steps=3)
    swapped = {1.0: right[3.0], 3.0: right[1.0]}
    assert not nb10.check_guidance_vs_diversity(sampler, swapped, not alike, label=2, steps=3)
    other_class = {w: nb10.guidance_ms_ssim(sampler, w, 1, 3) for w in (1.0, 3.0)}
    assert not nb10.check_guidance_vs_diversity(sampler, other_class, other_class[3.0] > other_class[1.0],
                                                label=2, steps=3)
    assert not nb10.check_guidance_vs_diversity(sampler, {1.0: right[1.0]}, alike, label=2, steps=3)
    assert not nb10.check_guidance_vs_diversity(None, right, alike, label=2, steps=3)


# ----------------------------------------------------------------- exercise 3: would the audit catch a copier?
@pytest.fixture(scope="module")
def scored(sampler, real):
    """The notebook's names for exercise 3, with a small evaluation of 40 generated images."""
    real_train, real_test = real
    n = 40
    labels = evaluation.balanced_labels(n, 4)
    fake = {"diffusion": sampler.generate(n, labels=labels, seed=0)}
    options = evaluation.EvalOptions.quick(utility=False, feature_epochs=1, verbose=False)
    return {"np": np, "evaluation": evaluation, "real_train": real_train, "real_test": real_test, "fake": fake,
            "labels": labels, "N_SAMPLES": n, "EVAL": options}


@pytest.mark.slow
def test_nb10_ex3_solution_passes(scored, cache):
    namespace = dict(scored)
    exec(solutions()[2], namespace)
    rate = namespace["my_rate"]
    assert rate >= 0.1
    assert nb10.check_copy_audit(namespace["copier"], namespace["copier_report"], scored["real_train"].images, rate)


@pytest.mark.slow
def test_nb10_ex3_rejects_wrong_answers(scored, cache):
    train, test, fake, labels = scored["real_train"], scored["real_test"], scored["fake"]["diffusion"], scored["labels"]
    options = scored["EVAL"].replace(realism=False)

    def planted(k):
        images = fake.copy()
        images[:k] = train.images[[np.flatnonzero(train.labels == c)[i] for i, c in enumerate(labels[:k])]]
        return images, evaluation.evaluate(train, test, images, labels, options)

    copier, report = planted(4)
    rate = report.memorisation["pixel"]["possible_copies_fraction"]
    assert nb10.check_copy_audit(copier, report, train.images, rate)
    assert not nb10.check_copy_audit(copier, report, train.images, 100 * rate)  # a percentage
    assert not nb10.check_copy_audit(copier, report, train.images, report.memorisation["pixel"]["possible_copies"])
    own = evaluation.evaluate(train, test, fake, labels, options)  # the model's own images: another set
    assert not nb10.check_copy_audit(copier, own, train.images, own.memorisation["pixel"]["possible_copies_fraction"])
    few, few_report = planted(1)  # one copy in 40 is less than a tenth
    assert not nb10.check_copy_audit(few, few_report, train.images,
                                     few_report.memorisation["pixel"]["possible_copies_fraction"])
    assert not nb10.check_copy_audit(None, None, train.images, None)
