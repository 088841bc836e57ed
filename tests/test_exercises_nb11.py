"""Notebook 11's exercise checks (synthetic data for segmentation) pass with the solutions
printed in the notebook and fail with wrong answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from medgan_helpers import deform, mask_synthesis, seg_experiment, segmentation
from medgan_helpers.exercises import nb11
from tests.helpers import assert_checks_reexported, solution_blocks

SOURCE = "11_synthetic_data_for_segmentation.py"
LABELS = ("background", "CSF", "grey matter", "white matter")


def brain_like(n: int = 1, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 label maps like an axial brain slice: an off-centre ellipse of white matter, a grey-matter
    rim, a thin CSF rim (so a shift costs CSF the most overlap), each map a little moved and stretched."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size].astype(np.float64)
    out = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = size * 0.5 + rng.uniform(-2, 2), size * 0.45 + rng.uniform(-2, 2)
        r = np.sqrt(((rows - cy) / (size * 0.34)) ** 2 + ((cols - cx) / (size * 0.28)) ** 2)
        out[i] = np.select([r < 0.55, r < 0.85, r < 1.0], [3, 2, 1], 0)
    return out


@dataclass
class Pairs:
    """What the checks read from a segmentation set: images, label maps, label names."""

    input_images: np.ndarray
    masks: np.ndarray
    mask_labels: tuple[str, ...] = LABELS


def pairs(n: int, seed: int) -> Pairs:
    """Slices painted from :func:`brain_like` maps (one grey level per label, plus noise): learnable."""
    masks = brain_like(n, seed=seed)
    levels = np.array([-1.0, -0.6, 0.1, 0.7], np.float32)
    noise = np.random.default_rng(seed).normal(0, 0.05, masks.shape).astype(np.float32)
    return Pairs(np.clip(levels[masks] + noise, -1, 1)[..., None], masks)


def solutions() -> list[str]:
    blocks = solution_blocks(SOURCE)
    assert len(blocks) == 3, "notebook 11 prints three solutions (exercises 1-3)"
    return blocks


def test_nb11_checks_are_reexported():
    assert_checks_reexported("11")


# ----------------------------------------------------------------- exercise 1: a two-pixel error
def test_nb11_ex1_solution_passes_and_numbers_are_right():
    mask = brain_like()[0]
    namespace = {"np": np, "segmentation": segmentation, "mask": mask}
    exec(solutions()[0], namespace)
    assert nb11.check_shifted_mask(namespace["my_dice"], namespace["my_hd95"], namespace["my_worst"], mask)
    assert namespace["my_worst"] == "CSF"  # the thin rim loses the most overlap
    assert np.allclose(namespace["my_hd95"], 2.0)  # every outline moved by 2 px


def test_nb11_ex1_accepts_other_shapes_of_the_right_answer():
    mask = brain_like()[0]
    shifted = np.roll(mask, 2, axis=1)
    dice, hd = segmentation.dice_per_class(mask, shifted, 4), segmentation.hd95_per_class(mask, shifted, 4)
    assert nb11.check_shifted_mask(dice, hd, "CSF", mask)  # with background first
    assert nb11.check_shifted_mask(dict(zip(LABELS, dice)), list(hd[1:]), "CSF", mask)  # by name


def test_nb11_ex1_rejects_wrong_answers():
    mask = brain_like()[0]
    shifted = np.roll(mask, 2, axis=1)
    dice, hd = segmentation.dice_per_class(mask, shifted, 4)[1:], segmentation.hd95_per_class(mask, shifted, 4)[1:]
    once = np.roll(mask, 1, axis=1)
    assert not nb11.check_shifted_mask(segmentation.dice_per_class(mask, once, 4)[1:], hd, "CSF", mask)  # 1 px
    down = np.roll(mask, 2, axis=0)  # the other axis: an ellipse loses a different overlap
    assert not nb11.check_shifted_mask(segmentation.dice_per_class(mask, down, 4)[1:], hd, "CSF", mask)
    assert not nb11.check_shifted_mask(dice, dice, "CSF", mask)  # Dice given as HD95
    assert not nb11.check_shifted_mask(dice, hd, "white matter", mask)  # the thickest tissue
    assert not nb11.check_shifted_mask(None, None, None, mask)
    assert not nb11.check_shifted_mask(dice, hd, "CSF", mask.astype(np.float32))  # not a label map


# ----------------------------------------------------------------- exercise 2: stronger deformations
def test_nb11_ex2_solution_passes():
    real = Pairs(np.zeros((6, 32, 32, 1), np.float32), brain_like(6))
    namespace = {"np": np, "segmentation": segmentation, "mask_synthesis": mask_synthesis, "deform": deform,
                 "real": real}
    exec(solutions()[1], namespace)
    assert nb11.check_deformation_strength(namespace["my_settings"], namespace["my_default_dice"],
                                           namespace["my_strong_dice"], real.masks)
    assert namespace["my_strong_dice"] < namespace["my_default_dice"]  # stronger = further from the source


def test_nb11_ex2_rejects_weak_settings_and_wrong_numbers():
    masks = brain_like(6)
    strong = deform.DeformSettings(max_rotation_deg=30, elastic_rms=0.04)
    default = nb11.mean_tissue_dice_to_source(masks)
    measured = nb11.mean_tissue_dice_to_source(masks, strong)
    assert nb11.check_deformation_strength(strong, default, measured, masks)
    assert not nb11.check_deformation_strength(strong, measured, default, masks)  # swapped
    assert not nb11.check_deformation_strength(deform.DeformSettings(), default, default, masks)  # not stronger
    mild = deform.DeformSettings(max_rotation_deg=15)
    assert not nb11.check_deformation_strength(mild, default, nb11.mean_tissue_dice_to_source(masks, mild), masks)
    assert not nb11.check_deformation_strength({"max_rotation_deg": 30}, default, measured, masks)
    # the background counted too: a Dice that is not the tissues' alone
    new, source = mask_synthesis.new_masks(masks, copies=1, seed=0, settings=strong)
    with_background = float(np.nanmean(segmentation.dice_per_class(masks[source], new, 4)))
    assert not nb11.check_deformation_strength(strong, default, with_background, masks)


# ----------------------------------------------------------------- exercise 3: change the loss and measure
def _trained(data: Pairs, dice_weight: float, steps: int = 8):
    return segmentation.train_segmenter((data.input_images, data.masks), epochs=steps, batch_size=8, seed=0,
                                        base_filters=4, dice_weight=dice_weight, num_classes=4).model


def _csf(model, data: Pairs) -> float:
    predicted = segmentation.predict_masks(model, data.input_images)
    return segmentation.segmentation_scores(data.masks, predicted, LABELS).dice["CSF"]


@pytest.mark.slow
def test_nb11_ex3_solution_passes_and_the_reading_follows_the_numbers():
    train, test = pairs(16, seed=0), pairs(8, seed=1)
    baseline = _trained(train, dice_weight=1.0)
    baseline_csf = _csf(baseline, test)
    namespace = {"np": np, "segmentation": segmentation, "real": (train.input_images, train.masks),
                 "seg_epochs": 8, "batch": 8, "SEED": 0, "SETTINGS": seg_experiment.Settings(seg_filters=4),
                 "test_parts": {"seen levels": test}, "baseline_csf": baseline_csf}
    exec(solutions()[2], namespace)
    model, csf, lower = namespace["ce_model"], namespace["my_csf_dice"], namespace["my_lower"]
    assert nb11.check_loss_experiment(model, test, csf, lower, baseline_csf)
    assert not nb11.check_loss_experiment(model, test, csf, not lower, baseline_csf)  # the reading must follow
    assert not nb11.check_loss_experiment(model, test, csf + 0.1, lower, baseline_csf)  # a number not measured
    assert not nb11.check_loss_experiment(baseline, test, baseline_csf, False, baseline_csf)  # the same model
    assert not nb11.check_loss_experiment(None, test, csf, lower, baseline_csf)
    assert not nb11.check_loss_experiment(model, test, csf, "yes", baseline_csf)
