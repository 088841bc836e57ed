"""folder:PATH — every file type, every bad-input case, privacy and read-only guarantees.

All inputs are real files written to tmp_path: PNG/JPEG/TIFF/BMP with Pillow, DICOM
copied from pydicom's bundled real CT/MR test images (and modified), NIfTI with
nibabel.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medgan_helpers import data
from medgan_helpers.data import folder

PATIENT_NAME = "Doe^Jane Secretname"
PATIENT_ID = "PID-98765-XYZ"
INSTITUTION = "St Example Memorial Hospital"


def blob_image(size=48, seed=0, rgb=False):
    """A non-constant test image: a bright ellipse with a seeded position on a dark ramp."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
    img = 30 + 40 * xx / size + 150 * (((yy - cy) / 10) ** 2 + ((xx - cx) / 14) ** 2 < 1)
    img = img.astype(np.uint8)
    if rgb:
        return np.stack([img, (img * 0.6).astype(np.uint8), 255 - img], axis=-1)
    return img


def write_ct(path, *, name=PATIENT_NAME, patient_id=PATIENT_ID, photometric=None, frames=None, window=None):
    """A real CT slice (pydicom's CT_small.dcm) carrying identifying fields."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    # a study and series of its own: copies of one file would share them, i.e. be one patient
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.InstitutionName = INSTITUTION
    ds.PatientBirthDate = "19610203"
    ds.StudyDate = "20240102"
    if photometric:
        ds.PhotometricInterpretation = photometric
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if frames:
        arr = ds.pixel_array
        stack = np.stack([np.roll(arr, 7 * (i + 1), axis=1) for i in range(frames)]).astype(arr.dtype)
        ds.NumberOfFrames = frames
        ds.PixelData = stack.tobytes()
    ds.save_as(path, enforce_file_format=True)
    del ds


def snapshot(root):
    """Every path under root with size and modification time (to prove nothing changed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.stat(full)
            out[os.path.relpath(full, root)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture()
def mixed(tmp_path):
    """Two classes of good images of every raster type, plus every kind of bad file."""
    root = tmp_path / "scans"
    for cls, offset in (("healthy", 0), ("lesion", 100)):
        (root / cls / "nested").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(blob_image(seed=offset + i)).save(root / cls / f"img{i}.png")
        Image.fromarray(blob_image(seed=offset + 10)).save(root / cls / "a.bmp")
        Image.fromarray(blob_image(seed=offset + 11)).save(root / cls / "nested" / "b.jpg", quality=95)
        ramp = (blob_image(seed=offset + 12).astype(np.uint16) * 200)
        Image.fromarray(ramp).save(root / cls / "c16.tif")
    bad = root / "lesion"
    good = (root / "healthy" / "img0.png").read_bytes()
    (bad / "truncated.png").write_bytes(good[: len(good) // 2])
    (bad / "notes.txt").write_text("not an image")
    (bad / "fake.jpg").write_text("<html>this is not a JPEG</html>")
    Image.fromarray(np.full((32, 32), 77, np.uint8)).save(bad / "constant.png")
    shutil.copy(root / "lesion" / "img1.png", root / "lesion" / "copy_of_img1.png")
    nan = np.where(blob_image(seed=5) > 100, np.nan, 1.0).astype(np.float32)
    Image.fromarray(nan, mode="F").save(bad / "nan.tif")
    return root


def test_folder_loads_classes_from_subfolders(mixed, cache):
    train = data.load_dataset(f"folder:{mixed}", image_size=32, split="train")
    assert train.class_names == ["healthy", "lesion"]
    assert train.pixels.dtype == np.uint8 and train.pixels.shape[1:] == (32, 32, 1)
    assert train.labels.dtype == np.int64
    total = sum(sum(c.values()) for c in train.card().counts.values())
    assert total == 14  # 7 good images per class (png ×4, bmp, nested jpg, 16-bit tif)
    report = train.report
    reasons = {report.local_path(item): reason for item, reason in report.skipped}
    assert all(item.startswith("lesion/file-") for item, _ in report.skipped)
    assert "truncated" in reasons["lesion/truncated.png"]
    assert "not an image" in reasons["lesion/notes.txt"]
    assert "unreadable" in reasons["lesion/fake.jpg"]
    assert "constant" in reasons["lesion/constant.png"]
    # files are read in sorted order: the copy comes first, so the original is the duplicate
    first = reasons["lesion/img1.png"].removeprefix("duplicate of ")
    assert first.startswith("lesion/file-") and report.local_path(first) == "lesion/copy_of_img1.png"
    assert "NaN" in reasons["lesion/nan.tif"]
    assert len(train.report.skipped) == 6
    text = str(train.report)
    assert "skipped lesion/file-" in text and "notes.txt" not in text and str(mixed) not in text
    assert "lesion/notes.txt" in report.with_paths() and "never saves them" in report.with_paths()


def test_folder_splits_are_deterministic_disjoint_and_complete(mixed, cache):
    def items(seed):
        return {
            s: set(data.load_dataset(f"folder:{mixed}", 32, s, seed=seed).metadata["item"])
            for s in data.SPLITS
        }

    a, b = items(0), items(0)
    assert a == b
    assert not (a["train"] & a["test"]) and not (a["train"] & a["val"]) and not (a["val"] & a["test"])
    assert sum(len(v) for v in a.values()) == 14
    assert all(len(v) > 0 for v in a.values())
    assert items(1) != a  # another seed, another assignment


def test_folder_without_subfolders_is_unlabelled_and_rgb_is_kept(tmp_path, cache):
    root = tmp_path / "derm"
    root.mkdir()
    for i in range(6):
        Image.fromarray(blob_image(size=40 + i, seed=i, rgb=True)).save(root / f"p{i}.png")
    ds = data.load_dataset(f"folder:{root}", image_size=24, split="train")
    assert ds.labels is None and ds.class_names == []
    assert ds.channels == 3 and ds.pixels.shape[1:] == (24, 24, 3)
    tfds = data.to_tf_dataset(ds, batch_size=2)
    assert tuple(next(iter(tfds)).shape) == (2, 24, 24, 3)  # images only, no labels
    grey = data.load_dataset(f"folder:{root}", image_size=24, split="train", color="grey")
    assert grey.channels == 1


def test_pad_to_square_keeps_aspect_and_antialiases():
    wide = np.zeros((20, 60), np.uint8)
    wide[:, 20:40] = 255  # a centred bright square
    out = data.pad_to_square_and_resize(wide, 30)
    assert out.shape == (30, 30)
    assert out[:7].max() <= 2 and out[-7:].max() <= 2  # padding above and below
    assert out[15, 15] > 200 and out[15, 3] == 0  # square stays square, in the middle
    stripes = np.tile(np.array([0, 255], np.uint8), (64, 32))  # 1-pixel stripes
    small = data.pad_to_square_and_resize(stripes, 16)
    assert abs(float(small[4:12, 4:12].mean()) - 127.5) < 10 and small[4:12, 4:12].std() < 10


def test_dicom_privacy_patient_name_never_kept(tmp_path, cache):
    root = tmp_path / "dicoms"
    (root / "ct").mkdir(parents=True)
    write_ct(root / "ct" / "IM0001")  # extension-less: recognised by the DICM marker
    write_ct(root / "ct" / "IM0002.dcm", name="Roe^Richard", patient_id="PID-2", frames=2)
    shutil.copy(get_testdata_file("MR_small.dcm"), root / "ct" / "mr.dcm")
    assert PATIENT_NAME.encode() in (root / "ct" / "IM0001").read_bytes()
    gc.collect()
    before = sum(isinstance(o, pydicom.Dataset) for o in gc.get_objects())
    sets = [data.load_dataset(f"folder:{root}", image_size=32, split=s) for s in ("train",)]
    ds = sets[0]
    assert len(ds) + sum(len(d) for d in sets[1:]) >= 1
    total = sum(sum(c.values()) for c in ds.card().counts.values())
    assert total == 4  # 1 + 2 frames + 1 MR
    found = str(ds.report) + str(ds.card()) + json.dumps(ds.card().to_dict())
    found += ds.card()._repr_markdown_() + repr(ds.metadata) + json.dumps(ds.report.to_dict())
    found_bytes = pickle.dumps((ds.report, ds.card(), ds.metadata, ds.pixels, ds.labels))
    found_bytes += pickle.dumps(folder._MEMO)
    for secret in (PATIENT_NAME, "Doe^Jane", "Roe^Richard", PATIENT_ID, INSTITUTION, "19610203", "20240102"):
        assert secret not in found
        assert secret.encode() not in found_bytes
    for path in cache.rglob("*"):
        if path.is_file():
            assert PATIENT_NAME.encode() not in path.read_bytes()
    gc.collect()
    assert sum(isinstance(o, pydicom.Dataset) for o in gc.get_objects()) <= before
    note = str(ds.card())
    assert "Not stored: the folder path" in note and "read into memory only" in note


def test_ct_windowing_hu_presets_and_monochrome1(tmp_path, cache):
    root = tmp_path / "ct"
    root.mkdir()
    write_ct(root / "a.dcm")
    ref = pydicom.dcmread(root / "a.dcm")
    hu = ref.pixel_array.astype(np.float32) * float(ref.RescaleSlope) + float(ref.RescaleIntercept)
    del ref
    for preset in ("brain", "bone", "lung"):
        c, w = data.CT_WINDOWS[preset]
        expected = np.rint(np.clip((hu - (c - w / 2)) / w, 0, 1) * 255).astype(np.uint8)
        ds = data.load_dataset(f"folder:{root}", image_size=128, ct_window=preset)
        assert np.abs(ds.pixels[0, ..., 0].astype(int) - expected.astype(int)).max() <= 1, preset
        assert any(preset in p for p in ds.card().preprocessing)
    custom = data.load_dataset(f"folder:{root}", image_size=128, ct_window=(40, 400))
    soft = data.load_dataset(f"folder:{root}", image_size=128, ct_window="soft-tissue")
    assert not np.array_equal(custom.pixels, soft.pixels)
    inv_root = tmp_path / "ct_inverted"
    inv_root.mkdir()
    write_ct(inv_root / "a.dcm", photometric="MONOCHROME1")
    inverted = data.load_dataset(f"folder:{inv_root}", image_size=128, ct_window="brain")
    normal = data.load_dataset(f"folder:{root}", image_size=128, ct_window="brain")
    assert np.abs(inverted.pixels.astype(int) + normal.pixels.astype(int) - 255).max() <= 1
    with pytest.raises(data.DataError, match="bone"):
        data.load_dataset(f"folder:{root}", ct_window="bones")


def test_ct_window_outside_all_values_is_reported(tmp_path, cache):
    root = tmp_path / "ct"
    root.mkdir()
    write_ct(root / "a.dcm")
    with pytest.raises(data.DataError, match="constant after windowing"):
        data.load_dataset(f"folder:{root}", image_size=32, ct_window=(5000, 10))


def test_multiframe_dicom_frames_stay_in_one_split(tmp_path, cache):
    root = tmp_path / "mf"
    root.mkdir()
    for i in range(5):
        write_ct(root / f"series{i}.dcm", patient_id=f"PID-{i}", frames=3)
        ds = pydicom.dcmread(root / f"series{i}.dcm")
        ds.PixelData = (ds.pixel_array + 40 * (i + 1)).astype(np.int16).tobytes()
        ds.save_as(root / f"series{i}.dcm")
        del ds
    seen = {}
    for split in data.SPLITS:
        ds = data.load_dataset(f"folder:{root}", image_size=32, split=split)
        for item in ds.metadata["item"]:
            seen.setdefault(item.split(" [")[0], set()).add(split)
    assert len(seen) == 5 and all(len(v) == 1 for v in seen.values())
    assert "3 frames" in str(ds.report)


def test_nifti_volume_slices_and_near_empty_slices_dropped(tmp_path, cache):
    root = tmp_path / "nifti"
    root.mkdir()
    zz, yy, xx = np.mgrid[:30, :40, :40]
    rng = np.random.default_rng(0)
    for i in range(3):
        vol = 200.0 * (((xx - 20) / 14) ** 2 + ((yy - 20) / 16) ** 2 + ((zz - 15) / 8) ** 2 < 1)
        vol = vol + rng.normal(0, 2, vol.shape) * (vol > 0) + 10 * i
        vol[vol < 0] = 0
        img = nib.Nifti1Image(np.transpose(vol, (2, 1, 0)).astype(np.float32), np.eye(4))
        nib.save(img, root / (f"vol{i}.nii.gz" if i else f"vol{i}.nii"))
    items = []
    for split in data.SPLITS:
        ds = data.load_dataset(f"folder:{root}", image_size=32, split=split)
        items += list(ds.metadata["item"])
    # the ellipsoid spans z = 8..22: about 15 slices per volume survive, 30 - 15 dropped
    paths = [ds.report.local_path(it) for it in items]
    per_volume = [sum(p.startswith(f"vol{i}.") for p in paths) for i in range(3)]
    assert all(10 <= n <= 17 for n in per_volume), per_volume
    assert "near-empty" in str(ds.report) and "NIfTI" in str(ds.report)
    assert any("percentile clip" in p for p in ds.card().preprocessing)
    sagittal = data.load_dataset(f"folder:{root}", image_size=32, split="train", nifti_axis=0)
    assert len(sagittal) > 0


def test_nothing_usable_raises_and_says_what_was_found(tmp_path, cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DataError, match="no files at all"):
        data.load_dataset(f"folder:{empty}")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "b.txt").write_text("y")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(junk / "black.png")
    with pytest.raises(data.DataError) as info:
        data.load_dataset(f"folder:{junk}")
    message = str(info.value)
    assert "2 × .txt" in message and "1 × raster" in message and "constant image" in message
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_dataset(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(data.DataError, match="is a file"):
        data.load_dataset(f"folder:{junk / 'a.txt'}")


def test_bad_folder_options_list_choices(mixed):
    with pytest.raises(data.DataError, match="auto, grey, gray, rgb"):
        data.load_dataset(f"folder:{mixed}", color="sepia")
    with pytest.raises(data.DataError, match="MR, CT"):
        data.load_dataset(f"folder:{mixed}", modality="PET-CT")
    with pytest.raises(data.DataError, match="nifti_axis"):
        data.load_dataset(f"folder:{mixed}", nifti_axis=3)
    with pytest.raises(data.DataError, match="8..1024"):
        data.load_dataset(f"folder:{mixed}", image_size=4)


def test_small_folder_all_in_train_and_empty_split_is_explained(tmp_path, cache):
    root = tmp_path / "two"
    root.mkdir()
    for i in range(2):
        Image.fromarray(blob_image(seed=i)).save(root / f"{i}.png")
    assert len(data.load_dataset(f"folder:{root}", 16, "train")) == 2
    with pytest.raises(data.DataError, match="only 2 group"):
        data.load_dataset(f"folder:{root}", 16, "test")


def test_loader_never_writes_into_the_user_folder(mixed, tmp_path, cache):
    (mixed / "dicom").mkdir()
    write_ct(mixed / "dicom" / "IM0001")
    before = snapshot(mixed)
    os.chmod(mixed, 0o555)  # read-only top folder as an extra guard (root may bypass it)
    try:
        for split in data.SPLITS:
            data.load_dataset(f"folder:{mixed}", image_size=32, split=split)
        data.load_dataset(f"folder:{mixed}", image_size=64, split="train", color="rgb")
    finally:
        os.chmod(mixed, 0o755)
    assert snapshot(mixed) == before



def test_nifti_nan_voxels_4d_and_ct_detection(tmp_path, cache):
    root = tmp_path / "vols"
    root.mkdir()
    zz, yy, xx = np.mgrid[:12, :32, :32]
    ball = (((xx - 16) / 10) ** 2 + ((yy - 16) / 12) ** 2 + ((zz - 6) / 5) ** 2) < 1
    mr = np.where(ball, 300.0 + xx, np.nan).astype(np.float32)  # NaN outside the head mask
    nib.save(nib.Nifti1Image(np.transpose(mr, (2, 1, 0)), np.eye(4)), root / "masked.nii.gz")
    ct = np.where(ball, 40.0 + yy, -1000.0).astype(np.float32)  # HU: air around soft tissue
    four_d = np.stack([np.transpose(ct, (2, 1, 0))] * 2, axis=-1)
    nib.save(nib.Nifti1Image(four_d, np.eye(4)), root / "ct4d.nii")
    ds = data.load_dataset(f"folder:{root}", image_size=16, split="train")
    report = str(ds.report)
    assert "NaN" in report and "set to the volume minimum" in report
    assert "4-D volume, only its first volume (of 2)" in report
    assert np.isfinite(ds.images).all()
    assert "NIfTI volume (CT)" in report and "NIfTI volume (MR)" in report
    assert any("CT windowing" in p for p in ds.card().preprocessing)


def test_recent_results_keep_the_last_few_reads_and_read_a_changed_folder_again(tmp_path):
    from medgan_helpers.data import cachefiles

    root = tmp_path / "scans"
    root.mkdir()
    (root / "a.png").write_bytes(b"one")
    recent, made = cachefiles.RecentResults(keep=2), []

    def read(value):
        return lambda: made.append(value) or value

    first = recent.key(root, 32, 0)
    assert recent.get_or_make(first, read("a")) == "a" and recent.get_or_make(first, read("x")) == "a"
    assert recent.key(root, 64, 0) != first  # other settings: another result
    (root / "b.png").write_bytes(b"two")  # a changed folder is read again
    second = recent.key(root, 32, 0)
    assert second != first and recent.get_or_make(second, read("b")) == "b"
    recent.get_or_make(first, read("y"))  # first is now the newest ...
    recent.get_or_make(recent.key(root, 16, 0), read("c"))  # ... so second is dropped, not first
    assert len(recent) == 2 and recent.get_or_make(first, read("z")) == "a"
    assert recent.get_or_make(second, read("b2")) == "b2" and made == ["a", "b", "c", "b2"]
    with pytest.raises(ValueError, match="keep at least one"):
        cachefiles.RecentResults(keep=0)


def test_train_val_and_test_of_one_folder_cost_one_read(mixed, cache, monkeypatch):
    reads = []
    real_read = folder._read
    monkeypatch.setattr(folder, "_read", lambda *a: reads.append(1) or real_read(*a))
    splits = [data.load_dataset(f"folder:{mixed}", image_size=16, split=s) for s in data.SPLITS]
    assert len(reads) == 1 and len({s.handle for s in splits}) == 1
    assert data.load_dataset(splits[0].handle, 24, "val").image_size == 24 and len(reads) == 2
