"""The notebook-01 exercise checks accept right answers and reject the usual wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers import data
from medgan_helpers.exercises import nb01


def test_check_window():
    assert nb01.check_window(lambda hu, c, w: np.clip((hu - (c - w / 2)) / w, 0, 1))
    assert not nb01.check_window(lambda hu, c, w: (hu - (c - w / 2)) / w)  # not clipped
    assert not nb01.check_window(lambda hu, c, w: np.clip((hu - c) / w, 0, 1))  # wrong low end
    assert not nb01.check_window(lambda hu, c, w: 1 / 0)


def test_check_percentile_clip():
    def right(x):
        lo, hi = np.percentile(x, [0.5, 99.5])
        return np.clip((x - lo) / (hi - lo), 0, 1)

    assert nb01.check_percentile_clip(right)
    assert not nb01.check_percentile_clip(lambda x: (x - x.min()) / (x.max() - x.min()))
    assert not nb01.check_percentile_clip(lambda x: np.clip(x / np.percentile(x, 99), 0, 1))


def test_check_to_model_range():
    assert nb01.check_to_model_range(lambda p: p.astype(np.float32) / 127.5 - 1)
    assert not nb01.check_to_model_range(lambda p: (p / 255.0).astype(np.float32))
    assert not nb01.check_to_model_range(lambda p: p / 127.5 - 1)  # float64


@pytest.fixture()
def small_brain(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path))
    return data.load_dataset("brain-mri", image_size=32, split="val")


def test_check_pipeline(small_brain):
    good = data.to_tf_dataset(small_brain, batch_size=32, include_labels=False)
    assert nb01.check_pipeline(good, small_brain, batch_size=32)
    assert not nb01.check_pipeline(data.to_tf_dataset(small_brain, batch_size=32), small_brain)
    wrong_size = data.to_tf_dataset(small_brain, batch_size=64, include_labels=False)
    assert not nb01.check_pipeline(wrong_size, small_brain, batch_size=32)
    assert not nb01.check_pipeline(small_brain.images, small_brain)
