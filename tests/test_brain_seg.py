"""brain-mri-seg: brain-mri's T1 slices with tissue label maps (0 background, 1 CSF, 2 GM, 3 WM).

Built for real from nilearn's templates, with fewer planes per class (seconds).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from medgan_helpers import data, segmentation
from medgan_helpers.data import brain_seg, masks
from tests import helpers

SMALL = {"train": 6, "val": 2, "test": 3}  # planes per class and split: 24 / 8 / 12 images
SOURCES = ("brain-mri", "brain-mri-seg")


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    """brain-mri and brain-mri-seg at 32 px, built for real into a private cache."""
    with helpers.small_brain_mri(tmp_path_factory.mktemp("seg-cache"), SMALL):
        loaded = {name: {s: data.load_dataset(name, 32, s) for s in data.SPLITS} for name in SOURCES}
        yield dict(zip(("brain", "seg"), loaded.values()))


def test_inputs_are_brain_mri_plane_for_plane(seg):
    for split in data.SPLITS:
        t1, s = seg["brain"][split], seg["seg"][split]
        assert isinstance(s, data.PairedSet) and s.task == "segmentation" and len(s) == 4 * SMALL[split]
        assert np.array_equal(s.inputs.pixels, t1.pixels) and np.array_equal(s.labels, t1.labels)
        assert s.masks.shape == (len(s), 32, 32) and s.masks.dtype == np.uint8
    assert seg["seg"]["train"].mask_labels == ("background", "CSF", "grey matter", "white matter")


def test_label_maps_hold_the_four_classes_and_only_integers_0_to_3(seg):
    train = seg["seg"]["train"].masks
    assert set(np.unique(train)) == {0, 1, 2, 3}
    for split in data.SPLITS:
        assert set(np.unique(seg["seg"][split].masks)) <= {0, 1, 2, 3}
    for size in (16, 64):  # resized as labels: nearest neighbour, still the four classes and nothing else
        resized = masks.resize_masks(train, size)
        assert resized.shape == (len(train), size, size) and resized.dtype == np.uint8
        assert set(np.unique(resized)) == {0, 1, 2, 3}


def test_labels_follow_the_t1_anatomy(seg):
    s = seg["seg"]["train"]
    t1, labels = s.inputs.pixels[..., 0].astype(float), s.masks
    means = [t1[labels == k].mean() for k in range(4)]
    assert means[0] < means[1] < means[2] < means[3]  # T1: background < CSF < grey < white matter
    assert (t1[labels == 0] < 40).mean() > 0.95  # background is where the T1 is dark (blurred edge aside)
    assert (labels[t1 < 3] == 0).all()  # and tissue never where the T1 is empty


def test_label_rule_threshold_and_argmax():
    probs = np.array([[0.2, 0.2, 0.09],  # total 0.49 < 0.5: background
                      [0.1, 0.3, 0.1],  # total 0.5: tissue, GM wins
                      [0.5, 0.1, 0.3],  # CSF
                      [0.0, 0.3, 0.7],  # WM
                      [0.3, 0.3, 0.0]])  # a tie goes to the lower label (CSF)
    assert brain_seg.label_maps(probs).tolist() == [0, 2, 1, 3, 1]
    assert brain_seg.label_maps(probs, threshold=0.8).tolist() == [0, 0, 1, 3, 0]
    with pytest.raises(ValueError, match="CSF, GM, WM"):
        brain_seg.label_maps(np.zeros((4, 2)))


def test_card_report_and_pipeline(seg):
    s = seg["seg"]["test"]
    card = json.dumps(s.card().to_dict())
    assert "CSF" in card and str(brain_seg.TISSUE_THRESHOLD) in card and "nilearn" in card
    assert s.card().counts["test"]["vertex"] == SMALL["test"]
    assert "pixels per label" in str(s.report)
    batch_images, batch_masks = next(iter(s.to_tf_dataset(batch_size=4, shuffle=False)))
    assert batch_images.dtype == "float32" and float(batch_images.numpy().min()) >= -1.0
    assert batch_masks.dtype == "int32" and batch_masks.shape == (4, 32, 32)
    assert np.array_equal(batch_masks.numpy(), s.masks[:4])
    assert s.subset([1, 2]).mask_labels == s.mask_labels and "label maps" in repr(s)
    again = data.load_dataset(s.handle, split="val")
    assert again.name == "brain-mri-seg" and len(again) == 4 * SMALL["val"]


def test_cache_is_used_and_rebuilt_when_damaged(tmp_path):
    path = brain_seg.cache_path(tmp_path, 32, 3)
    assert path.name == f"brain-mri-seg_v{brain_seg.VERSION}_32px_seed3.npz"
    with helpers.small_brain_mri(tmp_path, {"train": 2, "val": 1, "test": 1}):
        helpers.assert_cache_is_used_and_healed(lambda: brain_seg.load_label_arrays(32, 3, tmp_path), path)


def test_errors_name_the_choices():
    assert "brain-mri-seg" in data.available_sources()
    with pytest.raises(data.DataError, match="32, 64, 128"):
        data.load_dataset("brain-mri-seg", 48)
    with pytest.raises(data.DataError, match="no extra options"):
        data.load_dataset("brain-mri-seg", 32, task="segmentation")


@pytest.mark.slow
def test_a_segmenter_fits_brain_mri_seg(seg):
    result = segmentation.train_segmenter(seg["seg"]["train"], epochs=3, batch_size=8, base_filters=4)
    assert result.class_names == brain_seg.LABEL_NAMES
    assert result.history["loss"][-1] < result.history["loss"][0]
    test = seg["seg"]["test"]
    scores = segmentation.segmentation_scores(test.masks, segmentation.predict_masks(result.model,
                                              test.input_images), result.class_names)
    assert set(scores.dice) == set(brain_seg.LABEL_NAMES) and scores.images == len(test)
