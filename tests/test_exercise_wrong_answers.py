"""Exercise checks reject plausible wrong answers (issue 22): a check that passes an
unthinking answer teaches nothing. Each test gives the right answer and at least one
wrong answer a student could plausibly hand in."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import data, pix2pix_models
from medgan_helpers.evaluation import image_quality
from medgan_helpers.exercises import nb01, nb08
from medgan_helpers.pix2pix import Pix2Pix

sys.path.insert(0, str(Path(__file__).parent))
from test_pix2pix import tiny_pairs  # noqa: E402


@pytest.fixture()
def brain_splits(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path))
    return {split: data.load_dataset("brain-mri", image_size=32, split=split) for split in ("train", "val")}


def test_pipeline_check_rejects_the_wrong_split(brain_splits, capsys):
    right = data.to_tf_dataset(brain_splits["val"], batch_size=32, include_labels=False)
    assert nb01.check_pipeline(right, brain_splits, batch_size=32) is True
    # the notebook's starting cell pointed at the train split in many a first try: right shape, wrong images
    wrong = data.to_tf_dataset(brain_splits["train"], batch_size=32, include_labels=False)
    capsys.readouterr()
    assert nb01.check_pipeline(wrong, brain_splits, batch_size=32) is False
    assert "'train' split" in capsys.readouterr().out
    assert nb01.check_pipeline(wrong, brain_splits["val"], batch_size=32) is False  # one ImageSet given


def _untrained(l1_weight: float) -> Pix2Pix:
    """A pix2pix model that only needs to translate: the check reads λ and recomputes the numbers."""
    G = pix2pix_models.build_unet(32, 1, 1, base_filters=4, max_filters=16)
    return Pix2Pix(G, None, l1_weight=l1_weight, ema_decay=None)


def _measured(model, pairs) -> tuple[float, float]:
    outputs = model.translate(pairs.input_images)
    return (float(np.mean(image_quality.psnr(outputs, pairs.target_images))),
            image_quality.sharpness(outputs, pairs.target_images))


def test_lambda_check_needs_a_real_change_and_an_honest_reading():
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
