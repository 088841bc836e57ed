"""Checks for the exercises of notebook 10 · Diffusion beside the GAN.

Each check recomputes the answer from what the student passes (a diffusion sampler,
real images, an evaluation report) with the kit's own code, prints a verdict and
returns ``True``/``False``; a wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import close_to, verdict
from medgan_helpers.exercises._verdict import finite_number as _number

#: Exercise 1: images drawn per number of steps, and their seed.
STEPS_IMAGES = 32
STEPS_SEED = 1
#: Exercise 1: the largest number of DDIM steps the check recomputes (each is one U-Net pass per image).
MAX_STEPS = 100
#: Exercise 2: images of the one class per guidance scale, their seed, and the MS-SSIM pairs measured.
GUIDANCE_IMAGES = 24
GUIDANCE_SEED = 2
GUIDANCE_PAIRS = 100
#: Exercise 3: the share of the generated set the "copier" replaces by training images, at least.
COPY_SHARE = 0.1


def _answers(values: Any) -> dict | None:
    """``{setting: finite number}`` with at least two settings, or None."""
    if not isinstance(values, dict) or len(values) < 2:
        return None
    out = {}
    for key, value in values.items():
        number = _number(value)
        if number is None:
            return None
        out[key] = number
    return out


def steps_detail(sampler: Any, real_images: np.ndarray, steps: int) -> float:
    """High-frequency ratio (generated / real) of ``STEPS_IMAGES`` class-balanced images drawn at ``steps``."""
    from medgan_helpers import evaluation

    labels = evaluation.balanced_labels(STEPS_IMAGES, sampler.num_classes) if sampler.num_classes else None
    images = sampler.generate(STEPS_IMAGES, labels=labels, seed=STEPS_SEED, steps=int(steps))
    return evaluation.high_frequency_ratio(images, real_images)


def check_steps_vs_detail(sampler: Any, real_images: Any, my_hf: Any, my_closest: Any) -> bool:
    """Exercise 1: the high-frequency ratio of the samples at two or more numbers of DDIM steps
    (``{steps: ratio}``), and the number of steps whose ratio is closest to 1 (as fine as real)."""
    if not hasattr(sampler, "reverse_path"):
        return verdict(False, "", "pass the diffusion sampler (diffusion_sampler) first.")
    answers = _answers(my_hf)
    if answers is None:
        return verdict(False, "", "my_hf must be a dictionary {steps: high-frequency ratio} with at least two "
                       "numbers of steps, e.g. {2: ..., 20: ...}.")
    if not all(isinstance(k, (int, np.integer)) and 1 <= k <= MAX_STEPS for k in answers):
        return verdict(False, "", f"the keys of my_hf are numbers of DDIM steps: whole numbers from 1 to {MAX_STEPS}.")
    real_images = np.asarray(real_images, np.float32)
    want = {k: steps_detail(sampler, real_images, k) for k in answers}
    for k, value in answers.items():
        if not close_to(value, want[k], rel_tol=1e-3, abs_tol=1e-4):
            return verdict(False, "", f"at {k} steps: draw {STEPS_IMAGES} images with labels "
                           f"evaluation.balanced_labels({STEPS_IMAGES}, 4), seed={STEPS_SEED} and steps={k}, then "
                           "evaluation.high_frequency_ratio(images, real_train.images).")
    closest = min(want, key=lambda k: abs(want[k] - 1.0))
    if isinstance(my_closest, bool) or my_closest != closest:
        return verdict(False, "", "my_closest: which number of steps gives the ratio closest to 1 (fine detail as "
                       "in the real slices)? Answer with the number of steps, from your own numbers.")
    few, many = min(want), max(want)
    trend = ("more" if want[many] > want[few] else "less")
    return verdict(
        True,
        ", ".join(f"{k} steps: {want[k]:.2f}" for k in sorted(want)) + f". With more steps the samples carry "
        f"{trend} fine detail here, and {closest} steps come closest to the real slices' 1.0. Each step is one "
        "pass of the U-Net, so the time per image grows with the steps; detail is one measure of quality, "
        "not all of it: look at the images too.",
        "",
    )


def guidance_pairs(sampler: Any, guidance: float, label: int, steps: int) -> np.ndarray:
    """MS-SSIM of ``GUIDANCE_PAIRS`` pairs among ``GUIDANCE_IMAGES`` images of class ``label``."""
    from medgan_helpers import evaluation

    images = sampler.generate(GUIDANCE_IMAGES, labels=[int(label)] * GUIDANCE_IMAGES, seed=GUIDANCE_SEED,
                              steps=int(steps), guidance=float(guidance))
    return evaluation.ms_ssim_pairs(images, GUIDANCE_PAIRS, seed=0)


def guidance_ms_ssim(sampler: Any, guidance: float, label: int, steps: int) -> float:
    """Mean MS-SSIM of ``GUIDANCE_PAIRS`` pairs among ``GUIDANCE_IMAGES`` images of class ``label``."""
    return float(np.mean(guidance_pairs(sampler, guidance, label, steps)))


def check_guidance_vs_diversity(sampler: Any, my_ms_ssim: Any, my_more_alike: Any, label: int = 2,
                                steps: int = 10) -> bool:
    """Exercise 2: within-class MS-SSIM of class ``label`` at two or more guidance scales
    (``{guidance: mean MS-SSIM}``), and whether the strongest guidance made the images more alike
    than the weakest."""
    if not hasattr(sampler, "reverse_path"):
        return verdict(False, "", "pass the diffusion sampler (diffusion_sampler) first.")
    if not sampler.num_classes:
        return verdict(False, "", "guidance needs a class-conditional sampler.")
    answers = _answers(my_ms_ssim)
    if answers is None:
        return verdict(False, "", "my_ms_ssim must be a dictionary {guidance: mean MS-SSIM} with at least two "
                       "guidance scales, e.g. {1.0: ..., 3.0: ...}.")
    if not all(isinstance(k, (int, float)) and not isinstance(k, bool) and 0 <= k <= 10 for k in answers):
        return verdict(False, "", "the keys of my_ms_ssim are guidance scales: numbers from 0 to 10 (1 = none).")
    pairs = {k: guidance_pairs(sampler, k, label, steps) for k in answers}
    want = {k: float(np.mean(v)) for k, v in pairs.items()}
    for k, value in answers.items():
        if not close_to(value, want[k], rel_tol=1e-3, abs_tol=1e-4):
            return verdict(False, "", f"at guidance {k}: draw {GUIDANCE_IMAGES} images of class {label} with "
                           f"seed={GUIDANCE_SEED}, steps={steps}, guidance={k}, then the mean of "
                           f"evaluation.ms_ssim_pairs(images, {GUIDANCE_PAIRS}, seed=0).")
    weak, strong = min(want), max(want)
    more_alike = want[strong] > want[weak]
    if not isinstance(my_more_alike, (bool, np.bool_)) or bool(my_more_alike) != more_alike:
        return verdict(False, "", f"my_more_alike: True or False, from your numbers: is the MS-SSIM at guidance "
                       f"{strong:g} higher (images more alike) than at {weak:g}?")
    # two standard errors of the difference of two means of GUIDANCE_PAIRS pairs: the noise of this measurement
    noise = 2 * float(np.hypot(*(np.std(pairs[k], ddof=1) / np.sqrt(len(pairs[k])) for k in (weak, strong))))
    if abs(want[strong] - want[weak]) <= noise:
        reading = (f"the difference is within the noise of {GUIDANCE_PAIRS} pairs (two standard errors: {noise:.3f}), "
                   "so this measurement cannot say that guidance changed the variety; more images, or a model that "
                   "separates its classes better, would")
    elif more_alike:
        reading = "guidance pulled the images of the class together (less variety), beyond the noise of the measure"
    else:
        reading = ("guidance made the class more varied here, beyond the noise of the measure: a model this "
                   "short-trained may not separate its classes well enough for guidance to sharpen them")
    return verdict(True, ", ".join(f"guidance {k:g}: MS-SSIM {want[k]:.3f}" for k in sorted(want)) + f": {reading}. "
                   "Compare with the real images of the class before calling either number good.", "")


def check_copy_audit(copier: Any, copier_report: Any, real_images: Any, my_rate: Any) -> bool:
    """Exercise 3: a generated set in which at least a tenth are training images, its possible-copy
    rate in pixel space from the kit's memorisation audit (``copier_report``), read into ``my_rate``."""
    from medgan_helpers import evaluation

    if copier is None or copier_report is None or not hasattr(copier_report, "memorisation"):
        return verdict(False, "", "make the copier set, score it with evaluation.evaluate(...) and pass the report.")
    copier = np.asarray(copier, np.float32)
    real_images = np.asarray(real_images, np.float32)
    if copier.ndim != 4 or copier.shape[1:] != real_images.shape[1:]:
        return verdict(False, "", "copier must be images of the same size as the training images (N×H×W×C).")
    _, distance = evaluation.nearest_neighbours(copier, real_images)
    distance = distance / np.sqrt(np.prod(real_images.shape[1:]))  # root-mean-square, as the audit measures
    exact = float(np.mean(distance < 1e-6))
    if exact < COPY_SHARE - 1e-9:
        return verdict(False, "", f"only {exact:.0%} of copier are training images: replace at least "
                       f"{COPY_SHARE:.0%} of the generated images by images of real_train.")
    stored = copier_report.nearest_distances.get("fake_pixel")
    if stored is None or len(stored) != len(copier) or not np.allclose(np.sort(stored), np.sort(distance), atol=1e-4):
        return verdict(False, "", "copier_report must be the evaluation of this very copier set "
                       "(evaluation.evaluate(real_train, real_test, copier, ...)).")
    audit = copier_report.memorisation["pixel"]
    if not close_to(my_rate, audit["possible_copies_fraction"], abs_tol=1e-6):
        return verdict(False, "", "read the rate from the report: copier_report.memorisation['pixel']"
                       "['possible_copies_fraction'] (a fraction, not a percentage).")
    caught = float(np.mean(distance[distance < 1e-6] <= audit["threshold"]))
    return verdict(
        True,
        f"{exact:.0%} of the set are training images and the audit flags {audit['possible_copies_fraction']:.1%} "
        f"of it ({caught:.0%} of the planted copies caught, threshold {audit['threshold']:.3f}). A model that "
        "copies this often cannot hide; one that copies a training image after a small shift or change of "
        "contrast could: the audit measures nearness in pixels (and features), not where an image came from.",
        "",
    )
