"""Notebook 01's exercise checks accept right answers and reject the usual wrong ones.

Every exercise test file is ``test_exercises_nbNN.py`` and every test in it
``test_nbNN_exN_<what>`` (``test_nbNN_<what>`` for what spans the notebook).
"""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers import data
from medgan_helpers.exercises import nb01
from tests.helpers import assert_checks_reexported, solution_blocks


def test_nb01_checks_are_reexported():
    assert_checks_reexported("01")


def test_nb01_ex1_window():
    assert nb01.check_window(lambda hu, c, w: np.clip((hu - (c - w / 2)) / w, 0, 1))
    assert not nb01.check_window(lambda hu, c, w: (hu - (c - w / 2)) / w)  # not clipped
    assert not nb01.check_window(lambda hu, c, w: np.clip((hu - c) / w, 0, 1))  # wrong low end
    assert not nb01.check_window(lambda hu, c, w: 1 / 0)


def test_nb01_ex2_percentile_clip():
    def right(x):
        lo, hi = np.percentile(x, [0.5, 99.5])
        return np.clip((x - lo) / (hi - lo), 0, 1)

    assert nb01.check_percentile_clip(right)
    assert not nb01.check_percentile_clip(lambda x: (x - x.min()) / (x.max() - x.min()))
    assert not nb01.check_percentile_clip(lambda x: np.clip(x / np.percentile(x, 99), 0, 1))


# ----------------------------------------------------------------- exercise 3: measure the aliasing
def _block_mean(image, factor):
    h, w = image.shape
    return image.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def test_nb01_ex3_downsample_accepts_anti_aliasing_and_rejects_subsampling():
    from PIL import Image

    assert nb01.check_downsample(_block_mean)
    assert nb01.check_downsample(lambda im, f: np.asarray(
        Image.fromarray(im.astype(np.float32)).resize((im.shape[1] // f, im.shape[0] // f), Image.BOX)))
    assert not nb01.check_downsample(lambda im, f: im[::f, ::f])  # the notebook's starting point
    assert not nb01.check_downsample(lambda im, f: im[1::f, 2::f])
    assert not nb01.check_downsample(lambda im, f: _block_mean(im, f) * f * f)  # summed, not averaged
    assert not nb01.check_downsample(lambda im, f: im)  # wrong shape
    assert not nb01.check_downsample(lambda im, f: 1 / 0)


def test_nb01_ex3_downsampling_scores_measure_what_they_say():
    subsampled = nb01.downsampling_scores(lambda im, f: im[::f, ::f])
    averaged = nb01.downsampling_scores(_block_mean)
    assert subsampled["aliasing"] == pytest.approx(subsampled["aliasing_subsampling"])
    assert averaged["aliasing"] < 0.3 * subsampled["aliasing"]
    assert averaged["difference_to_kit"] < subsampled["difference_to_kit"]


def test_nb01_ex3_solution_passes():
    (block,) = [b for b in solution_blocks("01_data_preparation.py") if "def my_downsample" in b]
    namespace = {"np": np}
    exec(block, namespace)
    assert nb01.check_downsample(namespace["my_downsample"])


# ----------------------------------------------------------------- exercise 4: an unconditional pipeline
@pytest.fixture()
def brain_splits(cache):
    return {split: data.load_dataset("brain-mri", image_size=32, split=split) for split in ("train", "val")}


def test_nb01_ex4_pipeline(brain_splits):
    val = brain_splits["val"]
    good = data.to_tf_dataset(val, batch_size=32, include_labels=False)
    assert nb01.check_pipeline(good, val, batch_size=32)
    assert not nb01.check_pipeline(data.to_tf_dataset(val, batch_size=32), val)
    wrong_size = data.to_tf_dataset(val, batch_size=64, include_labels=False)
    assert not nb01.check_pipeline(wrong_size, val, batch_size=32)
    assert not nb01.check_pipeline(val.images, val)


def test_nb01_ex4_pipeline_rejects_the_wrong_split(brain_splits, capsys):
    right = data.to_tf_dataset(brain_splits["val"], batch_size=32, include_labels=False)
    assert nb01.check_pipeline(right, brain_splits, batch_size=32) is True
    # the notebook's starting cell pointed at the train split in many a first try: right shape, wrong images
    wrong = data.to_tf_dataset(brain_splits["train"], batch_size=32, include_labels=False)
    capsys.readouterr()
    assert nb01.check_pipeline(wrong, brain_splits, batch_size=32) is False
    assert "'train' split" in capsys.readouterr().out
    assert nb01.check_pipeline(wrong, brain_splits["val"], batch_size=32) is False  # one ImageSet given


# ----------------------------------------------------------------- a check no exercise calls yet
def test_nb01_to_model_range():
    assert nb01.check_to_model_range(lambda p: p.astype(np.float32) / 127.5 - 1)
    assert not nb01.check_to_model_range(lambda p: (p / 255.0).astype(np.float32))
    assert not nb01.check_to_model_range(lambda p: p / 127.5 - 1)  # float64
