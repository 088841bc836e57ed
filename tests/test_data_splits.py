"""folder: splits by patient — DICOM PatientID / Study / Series UID, else sub-folder, else file.

Real files in tmp_path: one DICOM file per slice in class/patient/slice_###.dcm (the
usual PACS export layout), written with pydicom; PNGs written with Pillow.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from test_privacy import blob_png, write_mr

from medgan_helpers import data
from medgan_helpers.data import folder


def load_all(root, **options):
    return {s: data.load_dataset(f"folder:{root}", image_size=32, split=s, **options) for s in data.SPLITS}


def splits_of(sets, key_of_path):
    """{group key: set of splits its images landed in}, via the in-memory paths."""
    seen = defaultdict(set)
    for split, ds in sets.items():
        for item in ds.metadata["item"]:
            seen[key_of_path(ds.report.local_path(item))].add(split)
    return seen


@pytest.fixture()
def series(tmp_path):
    """2 classes × 6 patients × 5 slices, one file per slice; patient folders named freely."""
    root = tmp_path / "series"
    patients = {}
    for c, cls in enumerate(("lesion", "normal")):
        for p in range(6):
            pid = f"P{c}{p:03d}"
            patients[f"{cls}/pat{p}"] = pid
            for k in range(5):
                write_mr(root / cls / f"pat{p}" / f"slice_{k:03d}.dcm", name=f"Pat^{pid}", patient_id=pid,
                         seed=1000 * c + 10 * p + k)
    return root, patients


def test_one_file_per_slice_series_keeps_every_patient_in_one_split(series, cache):
    root, patients = series
    sets = load_all(root)
    by_patient = splits_of(sets, lambda path: patients[path.rsplit("/", 1)[0]])
    assert len(by_patient) == 12
    assert all(len(splits) == 1 for splits in by_patient.values()), by_patient
    card = sets["train"].card()
    assert card.groups == {"train": 8, "val": 2, "test": 2}  # 6 per class: 4 / 1 / 1
    assert sum(card.groups.values()) == 12 and "12 × DICOM PatientID" in card.group_rule
    assert "train 8, val 2, test 2" in str(sets["test"].report)
    assert " groups " in str(card) and card.to_dict()["groups"]["val"] == 2
    assert all(len(ds) == 5 * ds.card().groups[s] for s, ds in sets.items())


def test_same_patient_in_two_folders_and_uid_fallbacks_stay_together(tmp_path, cache):
    root = tmp_path / "mixed"
    # one patient scanned twice (two folders, same PatientID), plus 5 other patients
    for v, visit in enumerate(("visit1", "visit2")):
        for k in range(3):
            write_mr(root / "a" / visit / f"s{k}.dcm", patient_id="SAME-1", seed=900 + 10 * v + k)
    for p in range(5):
        for k in range(3):
            write_mr(root / "a" / f"p{p}" / f"s{k}.dcm", patient_id=f"OTHER-{p}", seed=50 + 10 * p + k)
    # no PatientID: grouped by StudyInstanceUID across folders (two studies, 4 folders)
    for f in range(4):
        for k in range(2):
            write_mr(root / "a" / f"nopid{f}" / f"s{k}.dcm", name=None, patient_id=None,
                     study=f"1.2.3.{f % 2}", seed=500 + 10 * f + k)
    sets = load_all(root)

    def key(path):
        parts = path.split("/")
        if parts[1].startswith("visit"):
            return "SAME-1"
        if parts[1].startswith("nopid"):
            return f"study{int(parts[1][-1]) % 2}"
        return parts[1]

    by_group = splits_of(sets, key)
    assert all(len(s) == 1 for s in by_group.values()), by_group
    assert sum(sets["train"].card().groups.values()) == 1 + 5 + 2
    assert "2 × DICOM StudyInstanceUID" in sets["train"].card().group_rule


def test_non_dicom_files_group_by_sub_folder_else_file(tmp_path, cache):
    root = tmp_path / "png"
    for p in range(5):  # class/patient/img.png: the sub-folder is the group
        for k in range(4):
            blob_png(root / "x" / f"case{p}" / f"{k}.png", seed=10 * p + k)
    for k in range(6):  # class/img.png: each file is its own group
        blob_png(root / "y" / f"{k}.png", seed=100 + k)
    sets = load_all(root)
    cases = splits_of(sets, lambda path: path.rsplit("/", 1)[0] if path.startswith("x/") else path)
    assert all(len(s) == 1 for s in cases.values())
    assert sum(sets["train"].card().groups.values()) == 5 + 6
    assert "5 × sub-folder" in sets["train"].card().group_rule and "6 × file" in sets["train"].card().group_rule


def test_zero_fractions_are_honoured(series, cache):
    root, _ = series
    train = data.load_dataset(f"folder:{root}", image_size=32, split_fractions=(1.0, 0.0, 0.0))
    assert len(train) == 60 and train.card().groups == {"train": 12, "val": 0, "test": 0}
    for split in ("val", "test"):
        with pytest.raises(data.DataError, match="give it no group"):
            data.load_dataset(f"folder:{root}", 32, split, split_fractions=(1.0, 0.0, 0.0))
    half = data.load_dataset(f"folder:{root}", 32, "val", split_fractions=(0.5, 0.5, 0.0))
    assert half.card().groups == {"train": 6, "val": 6, "test": 0}
    with pytest.raises(data.DataError, match="is empty"):
        data.load_dataset(f"folder:{root}", 32, "test", split_fractions=(0.5, 0.5, 0.0))


@pytest.mark.parametrize(
    ("n", "fractions", "expected"),
    [
        (3, (0.7, 0.15, 0.15), (1, 1, 1)),
        (10, (0.7, 0.15, 0.15), (7, 2, 1)),
        (6, (1.0, 0.0, 0.0), (6, 0, 0)),
        (6, (0.0, 0.0, 1.0), (0, 0, 6)),
        (7, (0.5, 0.5, 0.0), (4, 3, 0)),
        (2, (0.7, 0.15, 0.15), None),
        (1, (1.0, 0.0, 0.0), (1, 0, 0)),
    ],
)
def test_split_counts(n, fractions, expected):
    assert folder.split_counts(n, fractions) == expected
    if expected is not None:
        assert sum(expected) == n
