"""Paired sources: brain-mri-pairs (alignment, tasks, cache) and folder-pairs:PATH (matching, privacy).

brain-mri-pairs is built for real from nilearn's templates (with fewer planes per
class, so it takes seconds); folder-pairs reads real PNG/TIFF files written to tmp_path.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from medgan_helpers import data
from medgan_helpers.data import brain, pairs
from tests import helpers

SMALL = {"train": 12, "val": 3, "test": 5}  # planes per class and split: 48 / 12 / 20 images


@pytest.fixture(scope="module")
def small_pairs(tmp_path_factory):
    """brain-mri and both pair tasks at 32 px, built for real into a private cache."""
    with helpers.small_brain_mri(tmp_path_factory.mktemp("pairs-cache"), SMALL):
        yield {
            "brain": {s: data.load_dataset("brain-mri", 32, s) for s in data.SPLITS},
            "tissue": {s: data.load_dataset("brain-mri-pairs", 32, s) for s in data.SPLITS},
            "sr": {s: data.load_dataset("brain-mri-pairs", 32, s, task="super-resolution") for s in data.SPLITS},
        }


def test_targets_are_brain_mri_plane_for_plane(small_pairs):
    for split in data.SPLITS:
        t1 = small_pairs["brain"][split]
        for task in ("tissue", "sr"):
            p = small_pairs[task][split]
            assert isinstance(p, data.PairedSet) and len(p) == len(t1) == 4 * SMALL[split]
            assert np.array_equal(p.targets.pixels, t1.pixels)
            assert np.array_equal(p.labels, t1.labels)
            assert np.array_equal(p.targets.metadata["z_mm"], t1.metadata["z_mm"])
    tissue = small_pairs["tissue"]["train"]
    assert tissue.inputs.pixels.shape == (48, 32, 32, 2) and tissue.inputs.pixels.dtype == np.uint8
    assert tissue.input_channels == ("grey matter", "white matter")


def test_grey_and_white_matter_fall_inside_the_t1_brain(small_pairs):
    p = small_pairs["tissue"]["train"]
    t1 = p.targets.pixels[..., 0].astype(float)
    gm, wm = (p.inputs.pixels[..., c].astype(float) / 255 for c in (0, 1))
    tissue = gm + wm > 0.5
    assert tissue.sum() > 1000
    assert (t1[tissue] > 25).mean() > 0.99  # tissue is where the T1 shows brain
    assert (gm + wm)[t1 < 3].max() < 0.3  # and never where the T1 is empty
    # on T1, white matter is brighter than grey matter: the maps are of the same anatomy
    assert t1[wm > 0.7].mean() > t1[gm > 0.7].mean() + 25
    # the check has teeth: the same maps shifted by 4 px no longer line up with the T1
    shifted = np.roll(tissue, 4, axis=2)
    assert (t1[shifted] > 25).mean() < 0.97
    assert abs(t1[np.roll(wm, 4, axis=2) > 0.7].mean() - t1[np.roll(gm, 4, axis=2) > 0.7].mean()) < \
        t1[wm > 0.7].mean() - t1[gm > 0.7].mean()


def test_super_resolution_inputs_are_4x_area_averages(small_pairs):
    p = small_pairs["sr"]["test"]
    assert p.input_size == 8 and p.image_size == 32
    target = p.targets.pixels.astype(float)
    by_hand = target.reshape(len(p), 8, 4, 8, 4, 1).mean(axis=(2, 4))
    assert np.array_equal(p.inputs.pixels, np.rint(by_hand).astype(np.uint8))
    assert "area averaging" in " ".join(p.card().preprocessing)


def test_splits_cards_and_tf_pipeline(small_pairs):
    p = small_pairs["tissue"]["train"]
    card = p.card()
    assert card.name == "brain-mri-pairs" and card.counts["test"]["vertex"] == SMALL["test"]
    assert "white matter" in card.source and "ICBM" in card.licence
    json.dumps(card.to_dict())
    batches = list(p.to_tf_dataset(batch_size=8, seed=3).take(3))
    a, b = (np.asarray(x) for x in batches[0])
    assert a.shape == (8, 32, 32, 2) and b.shape == (8, 32, 32, 1)
    assert a.min() >= -1 and b.max() <= 1
    # shuffled as pairs: every target in a batch is the target of its input
    where = {p.targets.pixels[i].tobytes(): i for i in range(len(p))}
    for inputs, targets in batches:
        for x, y in zip(np.asarray(inputs), np.asarray(targets)):
            i = where[data.to_uint8(y).tobytes()]
            assert np.array_equal(data.to_uint8(x), p.inputs.pixels[i])
    sub = p.subset([0, 5])
    assert len(sub) == 2 and np.array_equal(sub.inputs.pixels[1], p.inputs.pixels[5])


def test_pairs_cache_is_used_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setattr(brain, "PER_CLASS", {"train": 2, "val": 1, "test": 1})
    path = pairs.cache_path(tmp_path, 32, 7)
    assert path.name == f"brain-mri-pairs_v{pairs.VERSION}_32px_seed7.npz"
    helpers.assert_cache_is_used_and_healed(lambda: pairs.load_tissue_arrays(32, 7, tmp_path), path)


def test_brain_pairs_errors_name_the_choices():
    with pytest.raises(data.DataError, match="tissue-to-t1"):
        data.load_dataset("brain-mri-pairs", 32, task="mr-to-ct")
    with pytest.raises(data.DataError, match="32, 64, 128"):
        data.load_dataset("brain-mri-pairs", 48)
    with pytest.raises(data.DataError, match="task"):
        data.load_dataset("brain-mri-pairs", 32, colour="grey")
    assert "brain-mri-pairs" in data.available_sources() and "folder-pairs:PATH" in data.available_sources()


# --------------------------------------------------------------------------- folder-pairs


def pattern(k: int, size: int = 40) -> np.ndarray:
    """An image that encodes ``k``: a bright square whose position depends on k, on a ramp."""
    yy, xx = np.mgrid[:size, :size]
    img = 20 + 60 * xx / size
    top, left = 4 + (k * 7) % 24, 4 + (k * 11) % 24
    img[top : top + 10, left : left + 10] = 200 + k
    return img.astype(np.uint8)


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def pair_folder(tmp_path):
    """A/ (inputs) and B/ (targets = inverted inputs), two classes, patients as sub-folders, odd files."""
    root = tmp_path / "Smith_John_study"  # a name that must never be stored
    k = 0
    for label in ("tumour", "normal"):
        for patient in ("pat_alpha", "pat_beta", "pat_gamma", "pat_delta"):
            for s in range(2):
                k += 1
                write(root / "A" / label / patient / f"slice{s}.png", pattern(k))
                write(root / "B" / label / patient / f"slice{s}.tif", 255 - pattern(k))  # other extension
    write(root / "A" / "tumour" / "pat_alpha" / "only_in_a.png", pattern(90))
    write(root / "B" / "normal" / "pat_beta" / "only_in_b.png", pattern(91))
    write(root / "A" / "normal" / "pat_gamma" / "twin.png", pattern(92))  # ambiguous: two files named twin
    write(root / "A" / "normal" / "pat_gamma" / "twin.bmp", pattern(93))
    write(root / "B" / "normal" / "pat_gamma" / "twin.png", pattern(94))
    return root


def test_folder_pairs_match_by_relative_name(pair_folder):
    loaded = {s: data.load_dataset(f"folder-pairs:{pair_folder}", 32, s, seed=1) for s in data.SPLITS}
    assert sum(len(p) for p in loaded.values()) == 16
    train = loaded["train"]
    assert train.name.startswith("pairs-") and train.class_names == ["normal", "tumour"]
    # every target is its own input inverted (up to resizing): the files were paired correctly
    for x, y in zip(train.inputs.pixels.astype(int), train.targets.pixels.astype(int)):
        assert np.abs(x + y - 255).mean() < 3
    # patients never span two splits, and the split is reproducible
    items = {s: set(loaded[s].inputs.metadata["item"]) for s in data.SPLITS}
    assert not (items["train"] & items["test"]) and not (items["train"] & items["val"])
    again = data.load_dataset(f"folder-pairs:{pair_folder}", 32, "train", seed=1)
    assert np.array_equal(again.inputs.pixels, train.inputs.pixels)


def test_folder_pairs_report_lists_unmatched_and_ambiguous_files_by_id(pair_folder):
    p = data.load_dataset(f"folder-pairs:{pair_folder}", 32, "train", seed=1)
    reasons = dict(p.report.skipped)
    unmatched = [i for i, r in p.report.skipped if r.startswith("unmatched")]
    assert len(unmatched) == 2
    assert any(i.startswith("A/tumour/file-") for i in unmatched)
    assert any(i.startswith("B/normal/file-") for i in unmatched)
    ambiguous = [i for i, r in reasons.items() if "ambiguous" in r]
    assert len(ambiguous) == 3  # twin.png and twin.bmp in A, and their would-be partner in B
    shown = p.report.with_paths()
    assert "only_in_a.png" in shown and "slice0" not in str(p.report)
    assert "found: 19 files in A/, 18 in B/; 16 pairs" in str(p.report)


def test_folder_pairs_store_no_paths_or_names(pair_folder):
    p = data.load_dataset(f"folder-pairs:{pair_folder}", 32, "train", seed=1)
    stored = json.dumps([p.report.to_dict(), p.card().to_dict(), [str(i) for i in p.inputs.metadata["item"]]])
    stored += pickle.dumps(p.report).decode("latin-1")
    for secret in ("Smith", "John", "slice", "only_in", "twin", str(pair_folder), "pat_", "alpha"):
        assert secret not in stored, secret
    assert all(i.split("/")[-1].startswith("pair-") for i in p.inputs.metadata["item"])
    # the handle loads the other splits in this session, and forgets the folder when pickled
    assert data.load_dataset(p.handle, split="test").targets.name == p.name and p.subset([0]).handle == p.handle
    stored = repr(p.handle) + json.dumps(p.handle.to_dict()) + pickle.dumps(p).decode("latin-1")
    assert str(pair_folder) not in stored and "Smith" not in stored
    with pytest.raises(data.DataError, match="pass the folder again"):
        data.load_dataset(pickle.loads(pickle.dumps(p)).handle, split="test")


def test_folder_pairs_errors_say_what_to_do(tmp_path):
    (tmp_path / "A").mkdir()
    with pytest.raises(data.DataError, match="no B/"):
        data.load_dataset(f"folder-pairs:{tmp_path}", 32)
    (tmp_path / "B").mkdir()
    write(tmp_path / "A" / "x.png", pattern(1))
    write(tmp_path / "B" / "y.png", pattern(2))
    with pytest.raises(data.DataError, match="same relative path"):
        data.load_dataset(f"folder-pairs:{tmp_path}", 32)
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_dataset(f"folder-pairs:{tmp_path / 'nope'}", 32)
    with pytest.raises(data.DataError, match="split_fractions"):
        data.load_dataset(f"folder-pairs:{tmp_path}", 32, split_fractions=(1.0, 0.5, 0.0))
