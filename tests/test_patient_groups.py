"""folder: one patient = every file that shares a key (PatientID, Study/Series UID, patient sub-folder).

The three layouts privacy-minded users bring, which used to put one patient in
two or three splits (issue 21): anonymised DICOMs without PatientID and with a
fresh StudyInstanceUID per file, patient folders mixing DICOMs and PNGs, and
``PatientID="ANONYMOUS"`` in every file. Real files in tmp_path, written with
pydicom and Pillow (the helpers of tests/test_privacy.py).
"""

from __future__ import annotations

import json

import pytest
from pydicom.uid import generate_uid
from test_data_splits import load_all, splits_of
from test_privacy import blob_png, write_mr

from medgan_helpers import data
from medgan_helpers.data import dicom, groups, privacy
from medgan_helpers.data.readers import Slice


def patient_of(path: str) -> str:
    """class/patient/file -> class/patient (the patient, from the in-memory relative path)."""
    return path.rsplit("/", 1)[0]


def assert_each_patient_in_one_split(sets, patients: int) -> None:
    """Every class/patient folder in exactly one split, and one group per patient folder."""
    by_patient = splits_of(sets, patient_of)
    assert len(by_patient) == patients
    assert all(len(splits) == 1 for splits in by_patient.values()), by_patient
    card = sets["train"].card()
    assert sum(card.groups.values()) == patients and f"{patients} × sub-folder" in card.group_rule


def every_message(sets) -> str:
    """Every text the loaded splits show or keep: reports, cards, their dict forms."""
    parts = []
    for ds in sets.values():
        parts += [str(ds.report), json.dumps(ds.report.to_dict()), str(ds.card()), json.dumps(ds.card().to_dict())]
    return "\n".join(parts)


def test_no_patient_id_and_a_fresh_study_uid_per_file_keeps_each_patient_folder_together(tmp_path, cache):
    root = tmp_path / "anon_uids"
    for c, cls in enumerate(("lesion", "normal")):
        for p in range(6):
            for k in range(4):  # an anonymiser that drops PatientID and re-mints UIDs per file
                write_mr(root / cls / f"p{p}" / f"{k}.dcm", name=None, patient_id=None, study=generate_uid(),
                         series=generate_uid(), seed=1000 * c + 10 * p + k)
    assert_each_patient_in_one_split(load_all(root), 12)


def test_patient_folder_of_dicoms_with_patient_id_and_pngs_is_one_patient(tmp_path, cache):
    root = tmp_path / "mixed"
    for c, cls in enumerate(("lesion", "normal")):
        for p in range(8):
            folder = root / cls / f"case{p}"
            for k in range(2):
                write_mr(folder / f"mr{k}.dcm", name=f"Pat^{c}x{p}", patient_id=f"ID{c}{p:03d}",
                         study=generate_uid(), seed=2000 * c + 10 * p + k)
                blob_png(folder / f"photo{k}.png", seed=5000 + 2000 * c + 10 * p + k)
    assert_each_patient_in_one_split(load_all(root), 16)


@pytest.mark.parametrize("placeholder", ["ANONYMOUS", "SITE-7-EXPORT"])
def test_one_patient_id_in_every_file_is_a_placeholder_and_the_folders_decide(tmp_path, cache, placeholder):
    """A fixed word is known; any other value shared by many patient folders is found by counting."""
    root = tmp_path / "anonymised"
    for c, cls in enumerate(("lesion", "normal")):
        for p in range(6):
            for k in range(3):
                write_mr(root / cls / f"p{p}" / f"{k}.dcm", name="ANONYMOUS", patient_id=placeholder,
                         study=generate_uid(), seed=3000 * c + 10 * p + k)
    sets = load_all(root)
    assert all(len(ds) > 0 for ds in sets.values())
    assert_each_patient_in_one_split(sets, 12)
    assert sets["train"].card().groups == {"train": 8, "val": 2, "test": 2}
    shown = every_message(sets)
    assert "DICOM PatientID" in shown and "placeholder" in shown
    if placeholder == "ANONYMOUS":
        assert "placeholder (e.g. 'ANONYMOUS', empty or all zeros) in 36 images" in shown
    else:  # the value itself could identify a site: only how many folders share it is said
        assert "1 value shared by 12 patient sub-folders" in shown and placeholder not in shown
    assert str(tmp_path) not in shown


def test_empty_split_and_empty_folder_errors_name_the_folder_by_id_never_by_path(tmp_path, cache):
    root = tmp_path / "Doe_John_scans"
    for p in range(2):  # 2 anonymised patients: too few for a val split
        for k in range(2):
            write_mr(root / "lesion" / f"p{p}" / f"{k}.dcm", patient_id="ANONYMOUS", study=generate_uid(),
                     seed=10 * p + k)
    train = data.load_dataset(f"folder:{root}", image_size=32)
    assert train.card().groups == {"train": 2, "val": 0, "test": 0}
    with pytest.raises(data.DataError, match="is empty") as info:
        data.load_dataset(f"folder:{root}", image_size=32, split="val")
    message = str(info.value)
    assert train.name in message and str(root) not in message and "Doe_John" not in message
    empty = tmp_path / "Roe_Richard_scans"
    (empty / "lesion").mkdir(parents=True)
    (empty / "lesion" / "notes.txt").write_text("no images")
    with pytest.raises(data.DataError, match="No usable images") as info:
        data.load_dataset(f"folder:{empty}", image_size=32)
    assert "Roe_Richard" not in str(info.value) and "folder-" in str(info.value)


def test_flat_class_folders_with_a_placeholder_id_group_by_file_not_all_in_one(tmp_path, cache):
    root = tmp_path / "flat"
    for c, cls in enumerate(("a", "b")):
        for k in range(7):
            write_mr(root / cls / f"{k}.dcm", patient_id="n/a", study=generate_uid(), seed=100 * c + k)
    sets = load_all(root)
    assert sum(sets["train"].card().groups.values()) == 14 and all(len(ds) for ds in sets.values())


def test_same_patient_folder_name_in_two_classes_is_two_patients(tmp_path, cache):
    """benign/001 and malignant/001 are different patients unless a DICOM key joins them."""
    root = tmp_path / "numbered"
    for c, cls in enumerate(("benign", "malignant")):
        for p in range(4):
            for k in range(2):
                blob_png(root / cls / f"{p:03d}" / f"{k}.png", seed=700 * c + 10 * p + k)
    assert sum(load_all(root)["train"].card().groups.values()) == 8


def fake_slice(*keys: tuple[str, str]) -> Slice:
    return Slice("x", tuple(keys), None, "MR", None)


def test_union_joins_chains_and_is_independent_of_order():
    """Keys chain: file 1 and 3 share nothing, but both share a key with file 2."""
    pid, study = dicom.GROUP_KINDS["PatientID"], dicom.GROUP_KINDS["StudyInstanceUID"]
    tok = privacy.group_token
    one = fake_slice((groups.FILE, tok("file", "1")), (pid, tok(pid, "A")))
    two = fake_slice((groups.FILE, tok("file", "2")), (pid, tok(pid, "A")), (study, tok(study, "S")))
    three = fake_slice((groups.FILE, tok("file", "3")), (study, tok(study, "S")))
    alone = fake_slice((groups.FILE, tok("file", "4")), (pid, dicom.PLACEHOLDER))
    forward = groups.patient_groups([one, two, three, alone])
    backward = groups.patient_groups([alone, three, two, one])
    assert len(set(forward.groups[:3])) == 1 and forward.groups[3] != forward.groups[0]
    assert forward.groups == backward.groups[::-1]
    assert forward.kinds == {groups.JOINED: 1, groups.FILE: 1}
    assert any("placeholder" in note and "in 1 images" in note for note in forward.notes)
