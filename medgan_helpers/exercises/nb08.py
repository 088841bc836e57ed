"""Checks for the exercises of notebook 08 · Image-to-image translation.

Each check recomputes the answer from what the student passes (the model, the
pairs) with the kit's own code, prints a verdict and returns ``True``/``False``;
a wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import finite_number as _number
from medgan_helpers.exercises._verdict import verdict


def check_psnr_by_hand(value: Any) -> bool:
    """PSNR (dB) of an output that is off by exactly 0.1 at every pixel, on the kit's [-1, 1] scale."""
    expected = 10 * math.log10(2.0**2 / 0.1**2)  # range 2, MSE 0.01
    got = _number(value)
    if got is not None and math.isclose(got, 10 * math.log10(1.0 / 0.1**2), abs_tol=0.05):
        return verdict(False, "", "you used a peak value of 1; the kit's images span [-1, 1], a range of 2.")
    return verdict(
        got is not None and math.isclose(got, expected, abs_tol=0.05),
        f"{expected:.2f} dB: MSE = 0.1² = 0.01, PSNR = 10·log10(2² / 0.01). Halving the error adds 6 dB.",
        "PSNR = 10·log10(range² / MSE); every pixel is off by 0.1, so what is the mean squared error?",
    )


def _shape(value: Any) -> tuple[int, ...] | None:
    """A shape without its batch axis (given or not): ``(None, 32, 32, 8)`` -> ``(32, 32, 8)``."""
    try:
        dims = list(value)
        return tuple(int(d) for d in (dims[1:] if len(dims) == 4 else dims))
    except (TypeError, ValueError):
        return None


def check_skip_connection(generator: Any, shapes: Any, layer: str = "skip_32x32") -> bool:
    """The shapes (no batch axis) of the two tensors the U-Net joins at ``layer``, in any order."""
    try:
        inputs = generator.get_layer(layer).input
    except (ValueError, AttributeError):
        return verdict(False, "", f"pass the U-Net itself (a Keras model with a layer named {layer!r}).")
    expected = sorted(tuple(int(d) for d in t.shape[1:]) for t in inputs)
    try:
        got = sorted(_shape(s) for s in shapes)
    except TypeError:
        got = None
    if got is None or None in got or len(got) != 2:
        return verdict(False, "", "give a list of two shapes, e.g. [(32, 32, 8), (32, 32, 8)].")
    return verdict(
        got == expected,
        f"{expected[0]} and {expected[1]}: the decoder's upsampled features and the encoder's features "
        "of the same size. The encoder's half never went through the 4×4 bottleneck, so it still knows "
        "exactly where each edge is — that is what the skip connection carries.",
        "one tensor comes up from the decoder (its 'up_relu_…' layer), the other straight across from "
        "the encoder ('down_lrelu_…' of the same size); print models.layer_shapes(G).",
    )


#: How far λ must move from the recipe's 100 (a factor) for the change to be worth measuring.
LAMBDA_FACTOR = 3.0
#: Sharpness differences below this are within the seed noise of the README's 3-seed benchmark (± 0.02).
SHARPNESS_NOISE = 0.02


def check_lambda_experiment(model: Any, pairs: Any, my_psnr: Any, my_sharpness: Any, my_sharper: Any,
                            baseline: dict) -> bool:
    """Exercise 3: a pix2pix model trained with another λ, measured on ``pairs``, and a reading of it.

    ``my_psnr`` and ``my_sharpness`` are the student's mean PSNR and sharpness of the model on
    ``pairs``; ``my_sharper`` their answer (True / False) to "is it sharper than λ = 100, by more
    than the seed noise?"; ``baseline`` the λ = 100 row of the notebook's table (``psnr``,
    ``sharpness``). Everything is recomputed from the model, so the verdict follows the
    student's own run, not a stored answer.
    """
    from medgan_helpers.evaluation import image_quality

    weight = getattr(model, "l1_weight", None)
    if weight is None or not hasattr(model, "translate"):
        return verdict(False, "", "pass the trained model (from pix2pix.train(..., l1_weight=...)).model.")
    if 100.0 / LAMBDA_FACTOR < weight < 100.0 * LAMBDA_FACTOR:
        return verdict(False, "", f"this model was trained with λ = {weight:g}, too close to the recipe's 100 "
                       "for a change to show: train one with l1_weight=10 (or 1000).")
    outputs = model.translate(pairs.input_images)
    psnr = float(np.mean(image_quality.psnr(outputs, pairs.target_images)))
    sharp = image_quality.sharpness(outputs, pairs.target_images)
    got_psnr, got_sharp = _number(my_psnr), _number(my_sharpness)
    if got_psnr is None or abs(got_psnr - psnr) > 0.05:
        return verdict(False, "", "compute image_quality.psnr(model.translate(pairs.input_images), "
                       "pairs.target_images) on the test pairs and take its mean over the images.")
    if got_sharp is None or not math.isclose(got_sharp, sharp, rel_tol=0.02):
        return verdict(False, "", "compute image_quality.sharpness(outputs, targets) for the same outputs "
                       "and test targets (one number for the whole set).")
    sharper = sharp - float(baseline["sharpness"]) > SHARPNESS_NOISE
    if not isinstance(my_sharper, (bool, np.bool_)) or bool(my_sharper) != sharper:
        return verdict(False, "", "answer my_sharper with True or False from your own numbers: is your "
                       "sharpness more than 0.02 above the λ = 100 row's (baseline['sharpness'])? "
                       "Differences of 0.02 or less are within the seed noise.")
    d_psnr, d_sharp = psnr - float(baseline["psnr"]), sharp - float(baseline["sharpness"])
    reading = ("sharper than λ = 100 by more than the seed noise" if sharper else
               "no sharper than λ = 100 beyond the seed noise")
    return verdict(
        True,
        f"λ = {weight:g}: PSNR {psnr:.2f} dB ({d_psnr:+.2f} dB against λ = 100), sharpness {sharp:.2f} "
        f"({d_sharp:+.2f}): {reading}. On tissue → T1 the GM/WM maps fix the T1 contrast almost "
        "completely, so the L1 term alone already comes close to the targets' sharpness; the README's "
        "3-seed benchmark found λ = 10 no sharper (0.89 vs 0.89) and 0.31 dB lower in PSNR.",
        "",
    )


def check_blur_numbers(sharpness: Any, invented: Any, targets: Any) -> bool:
    """``image_quality.sharpness`` and ``invented_detail`` of the targets blurred with σ = 1 px."""
    from scipy import ndimage

    from medgan_helpers.evaluation import image_quality

    truth = np.asarray(targets, np.float64)
    blurred = ndimage.gaussian_filter(truth, (0, 1.0, 1.0, 0))
    want_sharp = image_quality.sharpness(blurred, truth)
    want_invented = image_quality.invented_detail(blurred, truth)
    got_sharp, got_invented = _number(sharpness), _number(invented)
    ok = (got_sharp is not None and got_invented is not None and math.isclose(got_sharp, want_sharp, rel_tol=0.02)
          and abs(got_invented - want_invented) < 0.005)
    return verdict(
        ok,
        f"sharpness {want_sharp:.2f} (blur removed most of the fine detail) but invented detail "
        f"{want_invented:.3f} (≈ 0): a blurry output is honest about what it does not know. "
        "A GAN's sharp output can score better on sharpness *and* worse on invented detail.",
        "blur with scipy.ndimage.gaussian_filter(targets, (0, 1, 1, 0)) — not the batch or channel "
        "axes — then call image_quality.sharpness(blurred, targets) and "
        "image_quality.invented_detail(blurred, targets).",
    )
