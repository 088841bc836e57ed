"""folder-pairs with b_kind="mask": label maps as the B side, never interpolated; misfits named.

Real PNG, TIFF, JPEG and NIfTI files written to tmp_path.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medgan_helpers import data
from medgan_helpers.data import masks

NAMES = ("background", "organ", "lesion")
ALL_TRAIN = (1.0, 0.0, 0.0)  # every pair in train: one load sees them all


def label_map(k: int, size: int = 40) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    top, left = 4 + (k * 5) % 12, 3 + (k * 7) % 12
    mask[top : top + 20, left : left + 22] = 1
    mask[top + 5 : top + 12, left + 6 : left + 14] = 2
    return mask


def save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


@pytest.fixture
def mask_folder(tmp_path):
    """Six good pairs (image = 30 + 60 × label), then one mask per way of being wrong."""
    root = tmp_path / "Doe_Jane_masks"  # a name that must never be stored
    for k in range(6):
        save(root / "A" / f"case{k}.png", (30 + 60 * label_map(k)).astype(np.uint8))
        save(root / "B" / f"case{k}.png", label_map(k))
    bad = {
        "small": label_map(6)[:30],  # another size than its image
        "fuzzy": label_map(7).astype(np.float32) * 0.75,  # non-integer (a resized-as-image mask)
        "five": np.where(label_map(8) == 2, 5, label_map(8)).astype(np.uint8),  # label 5 unknown
        "binary255": (label_map(9) > 0).astype(np.uint8) * 255,  # a 0/255 mask
        "colour": np.stack([label_map(10), label_map(10) * 0, label_map(10)], -1),
    }
    for name, mask in bad.items():
        save(root / "A" / f"{name}.png", (30 + 60 * label_map(0)).astype(np.uint8))
        save(root / "B" / (f"{name}.tif" if name == "fuzzy" else f"{name}.png"), mask)
    save(root / "A" / "lossy.png", (30 + 60 * label_map(1)).astype(np.uint8))
    save(root / "B" / "lossy.jpg", label_map(1), quality=90)
    return root


def reasons_by_local_name(pairs, side: str = "B") -> dict[str, str]:
    """File name (no extension) -> why it was skipped, for the files of ``side``."""
    return {pairs.report.local_path(item).split("/")[-1].split(".")[0]: reason
            for item, reason in pairs.report.skipped if item.startswith(f"{side}/")}


def test_masks_load_as_integer_labels_aligned_with_their_images(mask_folder):
    p = data.load_dataset(f"folder-pairs:{mask_folder}", 40, "train", b_kind="mask", mask_labels=NAMES,
                          split_fractions=ALL_TRAIN)
    assert len(p) == 6 and p.task == "segmentation" and p.mask_labels == NAMES
    assert p.masks.dtype == np.uint8 and set(np.unique(p.masks)) == {0, 1, 2}
    # at the files' own size nothing is resized: the image is exactly 30 + 60 × its own mask
    assert np.array_equal(p.inputs.pixels[..., 0].astype(int), 30 + 60 * p.masks.astype(int))
    small = data.load_dataset(f"folder-pairs:{mask_folder}", 16, "train", b_kind="mask", mask_labels=NAMES,
                              split_fractions=ALL_TRAIN)
    assert set(np.unique(small.masks)) == {0, 1, 2}  # nearest neighbour: no blended values
    expected = masks.resize_masks(p.masks, 16)
    assert np.array_equal(small.masks, expected)
    assert "nearest neighbour" in " ".join(p.card().preprocessing)
    assert "values 0 = background, 1 = organ, 2 = lesion" in str(p.report)
    again = data.load_dataset(p.handle)  # the handle keeps b_kind and mask_labels
    assert again.mask_labels == NAMES and np.array_equal(again.masks, p.masks)


def test_mismatched_masks_are_named_in_the_report_with_problem_and_fix(mask_folder):
    p = data.load_dataset(f"folder-pairs:{mask_folder}", 40, "train", b_kind="mask", mask_labels=NAMES,
                          split_fractions=ALL_TRAIN)
    reasons = reasons_by_local_name(p)
    assert "30×40" in reasons["small"] and "its image is 40×40" in reasons["small"]
    assert "save the mask at the image's size" in reasons["small"]
    assert "non-integer values (e.g. 0.75)" in reasons["fuzzy"] and "nearest-neighbour" in reasons["fuzzy"]
    assert "unknown label values 5" in reasons["five"] and "0..2 (background, organ, lesion)" in reasons["five"]
    assert "divide it by 255" in reasons["binary255"]
    assert "colour image" in reasons["colour"] and "JPEG" in reasons["lossy"]
    assert len(reasons) == 6
    # each image whose mask was refused says so, instead of "unmatched"
    images = reasons_by_local_name(p, "A")
    assert set(images) == set(reasons) - {"small"} and all("its partner B/file-" in r for r in images.values())
    assert "(image A/file-" in reasons["small"]  # a misfit pair is one entry, naming both files
    # the report names them by id only; the folder's and files' names are not stored
    stored = json.dumps([p.report.to_dict(), p.card().to_dict()])
    for secret in ("Doe", "Jane", "small", "fuzzy", "binary255", str(mask_folder)):
        assert secret not in stored, secret
    assert all(item.startswith(("A/file-", "B/file-")) for item, _ in p.report.skipped)


def test_without_mask_labels_every_value_found_is_a_label(mask_folder):
    p = data.load_dataset(f"folder-pairs:{mask_folder}", 40, "train", b_kind="mask", split_fractions=ALL_TRAIN)
    assert p.mask_labels[:3] == ("label 0", "label 1", "label 2") and p.mask_labels[-1] == "label 255"
    reasons = reasons_by_local_name(p)
    assert "five" not in reasons and "binary255" not in reasons and "small" in reasons


def test_nifti_masks_are_cut_into_the_slices_of_their_image(tmp_path):
    labels = np.zeros((24, 20, 5), np.int16)  # x, y, z; slice z=0 empty in both
    for z in range(1, 5):
        labels[4 : 18 - z, 3 + z : 15, z] = 1
        labels[8:11, 6 + z : 10 + z, z] = 2
    image = np.where(labels > 0, 10.0 + 50 * labels, 0.0).astype(np.float32)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    for side, volume in (("A", image), ("B", labels)):
        (tmp_path / side).mkdir()
        nib.save(nib.Nifti1Image(volume, affine), tmp_path / side / "vol.nii.gz")
    p = data.load_dataset(f"folder-pairs:{tmp_path}", 24, "train", b_kind="mask", mask_labels=NAMES,
                          split_fractions=ALL_TRAIN)
    assert len(p) == 4  # slices 1-4; the near-empty image slice 0 is dropped
    assert np.array_equal(p.inputs.pixels[..., 0] > 0, p.masks > 0)  # slice k of the mask with slice k
    assert set(np.unique(p.masks)) == {0, 1, 2}
    assert any("1 label-map slices not used" in note for note in p.report.notes)
    assert not p.report.skipped


def test_mask_options_are_checked():
    with pytest.raises(data.DataError, match="b_kind='label'"):
        masks.check_b_kind("label", None)
    with pytest.raises(data.DataError, match="needs b_kind='mask'"):
        masks.check_b_kind("image", NAMES)
    with pytest.raises(data.DataError, match="sequence of names"):
        masks.check_b_kind("mask", "background")
    with pytest.raises(data.DataError, match="2 to 256"):
        masks.check_b_kind("mask", ("background",))
    with pytest.raises(data.DataError, match="b_kind"):
        data.load_dataset("brain-mri", 32, b_kind="mask")


def test_image_pairs_have_no_masks(tmp_path):
    for side in "AB":
        for k in range(3):
            save(tmp_path / side / f"x{k}.png", (30 + 60 * label_map(k)).astype(np.uint8))
    p = data.load_dataset(f"folder-pairs:{tmp_path}", 32, "train", split_fractions=ALL_TRAIN)
    assert p.mask_labels == () and p.task == "folder-pairs"
    with pytest.raises(data.DataError, match="not a segmentation set"):
        p.masks  # noqa: B018 - the property raises
