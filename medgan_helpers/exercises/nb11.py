"""Checks for the exercises of notebook 11 · Synthetic data for segmentation.

Each check recomputes the answer from what the student passes (a label map, deformation
settings, a trained segmenter) with the kit's own code, prints a verdict and returns
``True``/``False``; a wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import close_to, verdict
from medgan_helpers.exercises._verdict import finite_number as _number

TISSUES = ("CSF", "grey matter", "white matter")
#: The shift of exercise 1, in pixels (to the right: ``np.roll(mask, SHIFT, axis=1)``).
SHIFT = 2
#: A deformation counts as stronger when its rotation or elastic size is at least this factor above the default.
STRONGER = 2.0
#: Dice differences up to this are within the seed spread of one short segmenter run.
DICE_NOISE = 0.02


def _scores(mask: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from medgan_helpers import segmentation

    return segmentation.dice_per_class(mask, other, 4), segmentation.hd95_per_class(mask, other, 4)


def _three(values: Any) -> np.ndarray | None:
    """CSF, GM, WM numbers from a list/array of 3 (tissues) or 4 (background first), or a dict by name."""
    try:
        if isinstance(values, dict):
            return np.array([float(values[t]) for t in TISSUES])
        v = np.asarray(values, np.float64).ravel()
    except (KeyError, TypeError, ValueError):
        return None
    return v[1:] if len(v) == 4 else v if len(v) == 3 else None


def check_shifted_mask(dice: Any, hd95: Any, worst: Any, mask: Any) -> bool:
    """Exercise 1: Dice and HD95 of every tissue of ``mask`` shifted right by 2 px, against ``mask``,
    and the tissue that loses the most Dice."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype.kind not in "ui":
        return verdict(False, "", "pass one label map (S×S integers), e.g. test.masks[PLANE].")
    want_dice, want_hd = _scores(mask, np.roll(mask, SHIFT, axis=1))
    got_dice, got_hd = _three(dice), _three(hd95)
    if got_dice is None or not np.allclose(got_dice, want_dice[1:], atol=1e-3, equal_nan=True):
        return verdict(False, "", "shift with np.roll(mask, 2, axis=1), then segmentation.dice_per_class(mask, "
                       "shifted, 4): give the three tissue values (CSF, grey matter, white matter).")
    if got_hd is None or not np.allclose(got_hd, want_hd[1:], atol=1e-3, equal_nan=True):
        return verdict(False, "", "segmentation.hd95_per_class(mask, shifted, 4) gives HD95 per class, in pixels.")
    lowest = TISSUES[int(np.argmin(want_dice[1:]))]
    if worst != lowest:
        return verdict(False, "", "which tissue has the lowest Dice after the shift? Give its name "
                       f"(one of {', '.join(TISSUES)}).")
    return verdict(
        True,
        f"HD95 is about {SHIFT} px for every tissue (the boundary moved by {SHIFT} px), but Dice "
        f"falls to {want_dice[1]:.2f} / {want_dice[2]:.2f} / {want_dice[3]:.2f}: the same small error "
        f"costs a thin tissue ({lowest}) far more overlap than a thick one. Read Dice and HD95 together, "
        "and compare Dice between tissues only with care.",
        "",
    )


def mean_tissue_dice_to_source(masks: np.ndarray, settings: Any = None, seed: int = 0) -> float:
    """Mean over the new masks (one deformed copy of each of ``masks``) of their tissue Dice with their source."""
    from medgan_helpers import mask_synthesis, segmentation

    new, source = mask_synthesis.new_masks(masks, copies=1, seed=seed, settings=settings)
    dice = segmentation.dice_per_class(np.asarray(masks)[source], new, 4)[:, 1:]
    return float(np.nanmean(dice))


def check_deformation_strength(settings: Any, my_default: Any, my_strong: Any, masks: Any) -> bool:
    """Exercise 2: how far new masks are from their sources (mean tissue Dice), with the default
    deformations and with stronger ``settings`` (one copy of each mask, seed 0)."""
    from medgan_helpers import deform

    default = deform.DeformSettings()
    if not isinstance(settings, deform.DeformSettings):
        return verdict(False, "", "pass deform.DeformSettings(...) with stronger values, e.g. "
                       "deform.DeformSettings(max_rotation_deg=30, elastic_rms=0.04).")
    if not (settings.max_rotation_deg >= STRONGER * default.max_rotation_deg
            or settings.elastic_rms >= STRONGER * default.elastic_rms):
        return verdict(False, "", f"make the deformations clearly stronger: at least {STRONGER:g}× the default "
                       f"rotation ({default.max_rotation_deg:g}°) or elastic size ({default.elastic_rms:g}).")
    masks = np.asarray(masks)
    want_default = mean_tissue_dice_to_source(masks, default)
    want_strong = mean_tissue_dice_to_source(masks, settings)
    if not close_to(my_default, want_default, abs_tol=1e-3):
        return verdict(False, "", "with the default settings: new, source = mask_synthesis.new_masks(masks, "
                       "copies=1, seed=0), then the nanmean of segmentation.dice_per_class(masks[source], new, 4)"
                       "[:, 1:] (the tissues, background left out).")
    if not close_to(my_strong, want_strong, abs_tol=1e-3):
        return verdict(False, "", "the same measurement with settings=your stronger DeformSettings.")
    reading = ("yours make masks that differ more from the real ones" if want_strong < want_default else
               "yours do not move the masks further from their sources: look at which knob you changed")
    return verdict(
        True,
        f"tissue Dice to the source mask {want_default:.2f} with the default deformations, {want_strong:.2f} "
        f"with yours: {reading}. Even the default leaves little overlap for thin tissues (exercise 1). "
        "Whether strong ones still look like anatomy is another question: look at them (large rotations "
        "or wavy cortex are not variants a scanner would show). The experiment's arm (d) would get the "
        "stronger deformations too, so only a measured (c) − (d) says what the generator adds.",
        "",
    )


def check_loss_experiment(model: Any, pairs: Any, my_csf_dice: Any, my_lower: Any, baseline_csf: Any) -> bool:
    """Exercise 3: a segmenter trained with cross-entropy only, its CSF Dice on ``pairs`` and a reading
    of it against the Dice + cross-entropy segmenter's CSF Dice ``baseline_csf``."""
    from medgan_helpers import segmentation

    if not hasattr(model, "predict") or not hasattr(pairs, "masks"):
        return verdict(False, "", "pass the trained Keras model (train_segmenter(...).model) and the test pairs.")
    predicted = segmentation.predict_masks(model, pairs.input_images)
    csf = float(segmentation.segmentation_scores(pairs.masks, predicted, ("background", *TISSUES)).dice["CSF"])
    baseline = _number(baseline_csf)
    if baseline is None:
        return verdict(False, "", "pass the notebook segmenter's CSF Dice on the same pairs as baseline_csf.")
    if math.isclose(csf, baseline, abs_tol=1e-6):
        return verdict(False, "", "this model scores exactly like the notebook's segmenter: train a new one "
                       "with dice_weight=0 (and the same epochs, batch size and seed).")
    got = _number(my_csf_dice)
    if got is None or abs(got - csf) > 1e-3:
        return verdict(False, "", "score your model with segmentation.segmentation_scores(pairs.masks, "
                       "segmentation.predict_masks(model, pairs.input_images), LABELS) and read .dice['CSF'].")
    lower = baseline - csf > DICE_NOISE
    if not isinstance(my_lower, (bool, np.bool_)) or bool(my_lower) != lower:
        return verdict(False, "", "answer my_lower with True or False from your own numbers: is your CSF Dice "
                       f"more than {DICE_NOISE} below the Dice + cross-entropy segmenter's?")
    reading = (f"{baseline - csf:.2f} lower: the soft-Dice term is what makes the small CSF class count"
               if lower else "not lower beyond the noise in this run: with enough steps, cross-entropy "
               "alone can learn CSF too; the Dice term matters most for rare classes and short runs")
    return verdict(True, f"CSF Dice {csf:.3f} with cross-entropy only, {baseline:.3f} with Dice + cross-entropy: "
                   f"{reading}.", "")
