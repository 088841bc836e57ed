"""Notebook 08's exercise checks accept right answers and reject wrong ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from test_pix2pix import TINY, tiny_pairs  # the pix2pix tests' tiny learnable pairs

from medgan_helpers import pix2pix, pix2pix_models
from medgan_helpers.evaluation import image_quality
from medgan_helpers.exercises import nb08
from tests.helpers import assert_checks_reexported


def test_nb08_checks_are_reexported():
    assert_checks_reexported("08")


def test_nb08_ex1_psnr_by_hand(capsys):
    assert nb08.check_psnr_by_hand(10 * math.log10(4 / 0.01)) is True
    assert nb08.check_psnr_by_hand(26.0) is True
    assert nb08.check_psnr_by_hand(20.0) is False  # peak 1 instead of range 2
    assert "range of 2" in capsys.readouterr().out
    assert nb08.check_psnr_by_hand(None) is False
    assert nb08.check_psnr_by_hand(30.0) is False


def test_nb08_ex2_skip_connection_reads_the_model():
    G = pix2pix_models.build_unet(64, 2, 1, base_filters=8, max_filters=32)
    right = [tuple(t.shape[1:]) for t in G.get_layer("skip_32x32").input]
    assert right == [(32, 32, 8), (32, 32, 8)]
    assert nb08.check_skip_connection(G, right) is True
    assert nb08.check_skip_connection(G, [(None, 32, 32, 8), (None, 32, 32, 8)]) is True  # batch axis allowed
    assert nb08.check_skip_connection(G, [(32, 32, 16)]) is False
    assert nb08.check_skip_connection(G, [(32, 32, 8), (32, 32, 16)]) is False
    assert nb08.check_skip_connection(G, []) is False
    assert nb08.check_skip_connection("G", right) is False
    wider = pix2pix_models.build_unet(64, 2, 1, base_filters=16, max_filters=64)
    assert nb08.check_skip_connection(wider, right) is False  # the answer depends on the model


# ----------------------------------------------------------------- exercise 3: change λ and measure
@pytest.mark.slow
def test_nb08_ex3_lambda_experiment_recomputes_the_psnr():
    pairs = tiny_pairs(n=16)
    default = pix2pix.train(pairs, epochs=1, **TINY).model
    other = pix2pix.train(pairs, epochs=1, l1_weight=10, **TINY).model
    outputs = other.translate(pairs.input_images)
    psnr = float(np.mean(image_quality.psnr(outputs, pairs.target_images)))
    sharp = image_quality.sharpness(outputs, pairs.target_images)
    baseline = {"psnr": psnr - 1, "sharpness": sharp}
    assert nb08.check_lambda_experiment(other, pairs, psnr, sharp, False, baseline) is True
    assert nb08.check_lambda_experiment(other, pairs, psnr + 0.5, sharp, False, baseline) is False
    assert nb08.check_lambda_experiment(default, pairs, psnr, sharp, False, baseline) is False  # λ = 100
    assert nb08.check_lambda_experiment(None, pairs, psnr, sharp, False, baseline) is False


def _untrained(l1_weight: float) -> pix2pix.Pix2Pix:
    """A pix2pix model that only needs to translate: the check reads λ and recomputes the numbers."""
    G = pix2pix_models.build_unet(32, 1, 1, base_filters=4, max_filters=16)
    return pix2pix.Pix2Pix(G, None, l1_weight=l1_weight, ema_decay=None)


def _measured(model, pairs) -> tuple[float, float]:
    outputs = model.translate(pairs.input_images)
    return (float(np.mean(image_quality.psnr(outputs, pairs.target_images))),
            image_quality.sharpness(outputs, pairs.target_images))


def test_nb08_ex3_lambda_check_needs_a_real_change_and_an_honest_reading():
    """Plausible wrong answers (issue 22): a check that passes an unthinking answer teaches nothing."""
    pairs = tiny_pairs(n=8)
    model = _untrained(10.0)
    psnr, sharp = _measured(model, pairs)
    sharper_baseline = {"psnr": psnr - 1.0, "sharpness": sharp - 0.2}  # λ = 100 much blurrier
    same_baseline = {"psnr": psnr + 0.3, "sharpness": sharp}
    assert nb08.check_lambda_experiment(model, pairs, psnr, sharp, True, sharper_baseline) is True
    assert nb08.check_lambda_experiment(model, pairs, psnr, sharp, False, same_baseline) is True
    # wrong: the expected "sharper" when the numbers say otherwise
    assert nb08.check_lambda_experiment(model, pairs, psnr, sharp, True, same_baseline) is False
    assert nb08.check_lambda_experiment(model, pairs, psnr, sharp, "yes", sharper_baseline) is False
    # wrong: a λ that barely differs from 100
    close = _untrained(90.0)
    assert nb08.check_lambda_experiment(close, pairs, *_measured(close, pairs), False, same_baseline) is False
    # wrong: PSNR of the inputs against the targets (the model's outputs were never computed)
    untranslated = float(np.mean(image_quality.psnr(pairs.input_images, pairs.target_images)))
    assert nb08.check_lambda_experiment(model, pairs, untranslated, sharp, False, same_baseline) is False
    assert nb08.check_lambda_experiment(None, pairs, psnr, sharp, False, same_baseline) is False


# ----------------------------------------------------------------- exercise 4: blur loses detail
def test_nb08_ex4_blur_numbers():
    rng = np.random.default_rng(0)
    targets = np.clip(ndimage.gaussian_filter(rng.normal(0, 1, (6, 32, 32, 1)), (0, 1, 1, 0)) * 3, -1, 1)
    blurred = ndimage.gaussian_filter(targets, (0, 1.0, 1.0, 0))
    sharp, invented = image_quality.sharpness(blurred, targets), image_quality.invented_detail(blurred, targets)
    assert sharp < 0.8 and invented < 0.01
    assert nb08.check_blur_numbers(sharp, invented, targets) is True
    wrong_axes = ndimage.gaussian_filter(targets, 1.0)  # blurs across images and channels too
    assert nb08.check_blur_numbers(image_quality.sharpness(wrong_axes, targets), invented, targets) is False
    assert nb08.check_blur_numbers(None, None, targets) is False
