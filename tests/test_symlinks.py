"""Links in a user's folder: followed once when they stay inside it, never read when they leave it."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from medgan_helpers import data
from tests.test_data_folder import blob_image

ALL_TRAIN = (1.0, 0.0, 0.0)


def _images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(blob_image(seed=seed + i)).save(folder / f"img{i}.png")


def _load(root):
    return data.load_dataset(f"folder:{root}", image_size=24, split="train", split_fractions=ALL_TRAIN)


@pytest.fixture
def layout(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "scans"
    _images(root / "healthy", 3, seed=0)
    _images(tmp_path / "elsewhere", 2, seed=50)  # beside the data folder, not in it
    return root, tmp_path / "elsewhere"


def _reasons(ds):
    return [reason for _, reason in ds.report.skipped]


def test_a_linked_class_folder_inside_the_data_folder_is_followed(layout):
    root, _ = layout
    _images(root / "store" / "lesion_images", 4, seed=10)
    os.symlink(root / "store" / "lesion_images", root / "lesion")
    ds = _load(root)
    assert "lesion" in ds.class_names  # it used to vanish silently
    assert sum(ds.class_names[k] == "lesion" for k in ds.labels) == 4


def test_links_that_leave_the_data_folder_are_skipped_with_a_reason(layout):
    root, outside = layout
    os.symlink(outside / "img0.png", root / "healthy" / "linked.png")
    os.symlink(outside, root / "external")
    ds = _load(root)
    assert len(ds) == 3  # only the three real images of 'healthy'
    reasons = _reasons(ds)
    assert sum("outside the data folder" in r for r in reasons) == 2, reasons
    assert not any(str(outside) in r for r in reasons)  # no path is printed


def test_a_link_loop_is_read_once(layout):
    root, _ = layout
    os.symlink(root / "healthy", root / "healthy" / "again")  # a loop
    ds = _load(root)
    assert len(ds) == 3
    assert any("read once only" in r for r in _reasons(ds))
