"""Identifiers planted in DICOM headers, file names and folder names never reach what the kit keeps.

All inputs are real files in tmp_path: DICOM written with pydicom, PNG with Pillow.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from medgan_helpers import data, privacy_audit
from medgan_helpers.data import folder, privacy

NAME, PID = "Doe^John", "MRN123456"
OTHER_NAME, OTHER_PID = "Roe^Richard", "MRN654321"


def write_mr(path, *, name=NAME, patient_id=PID, seed=0, size=40, study=None, series=None):
    """A real MR DICOM slice (explicit VR LE) with a seeded blob and the given identity."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
    pixels = (200 + 50 * xx / size + 1500 * (((yy - cy) / 8) ** 2 + ((xx - cx) / 11) ** 2 < 1)).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    if name is not None:
        ds.PatientName = name
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.PatientBirthDate = "19610203"
    if study is not None:
        ds.StudyInstanceUID = study
    if series is not None:
        ds.SeriesInstanceUID = series
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def blob_png(path, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :40]
    cy, cx = rng.uniform(12, 28, 2)
    img = (30 + 40 * xx / 40 + 150 * (((yy - cy) / 9) ** 2 + ((xx - cx) / 12) ** 2 < 1)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture()
def named_scans(tmp_path):
    """Patients named in folder names and file names, and in the DICOM headers."""
    root = tmp_path / "Dr_Smith_clinic" / "scans"
    for i in range(4):  # lesion/DOE_JOHN/DOE_JOHN_MRN123456_<i>.dcm, one file per slice
        write_mr(root / "lesion" / "DOE_JOHN" / f"DOE_JOHN_{PID}_{i}.dcm", seed=i)
    for i in range(4):
        write_mr(root / "lesion" / "ROE_RICHARD" / f"ROE_RICHARD_{OTHER_PID}_{i}.dcm",
                 name=OTHER_NAME, patient_id=OTHER_PID, seed=10 + i)
    for p, patient in enumerate(["Jane_Poe", "Mary_Major", "Peter_Moe", "Maria_Public"]):
        for i in range(3):
            blob_png(root / "normal" / patient / f"{patient}_{i}.png", seed=100 + 10 * p + i)
    (root / "normal" / "Jane_Poe" / "Jane_Poe_notes.txt").write_text("not an image")
    good = (root / "normal" / "Jane_Poe" / "Jane_Poe_0.png").read_bytes()
    (root / "normal" / "Jane_Poe" / "Jane_Poe_broken.png").write_bytes(good[: len(good) // 2])
    (root / "lesion" / "DOE_JOHN" / "DOE_JOHN_report.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 50)
    return root


SECRETS = ("Doe", "John", PID, "Roe", "Richard", OTHER_PID, "Jane_Poe", "Poe", "Major", "Moe",
           "Public", "Smith", "19610203")


def everything_kept(ds) -> str:
    """Every string form of what an ImageSet keeps (report, card, metadata, names, pickles)."""
    report, card = ds.report, ds.card()
    parts = [ds.name, *ds.class_names, str(report), json.dumps(report.to_dict()), str(card),
             card._repr_markdown_(), json.dumps(card.to_dict()), repr(ds.metadata),
             repr(pickle.dumps((report, card, ds.metadata, ds.name))), repr(ds)]
    return "\n".join(parts)


def test_names_in_files_and_folders_are_never_kept(named_scans, cache):
    sets = {s: data.load_dataset(f"folder:{named_scans}", image_size=32, split=s) for s in data.SPLITS}
    train = sets["train"]
    assert train.class_names == ["lesion", "normal"]
    assert folder.ID_PATTERN.fullmatch(train.name) and train.card().name == train.name
    assert train.report.source == train.name
    items = [it for ds in sets.values() for it in ds.metadata["item"]]
    assert all(it.split("/")[0] in ("lesion", "normal") and "/file-" in it for it in items)
    reasons = {train.report.local_path(it): r for it, r in train.report.skipped}
    assert "not an image" in reasons["normal/Jane_Poe/Jane_Poe_notes.txt"]
    assert "truncated" in reasons["normal/Jane_Poe/Jane_Poe_broken.png"]
    for ds in sets.values():
        kept = everything_kept(ds)
        assert str(named_scans) not in kept and "clinic" not in kept
        for secret in SECRETS:
            assert secret.lower() not in kept.lower(), secret
    # the screen-only view does show where the files are, and says it is not saved
    shown = train.report.with_paths()
    assert "normal/Jane_Poe/Jane_Poe_broken.png" in shown and "never saves them" in shown
    assert "Not stored: the folder path, file and sub-folder names" in str(train.card())
    # nothing in the cache folder either
    scan = privacy_audit.privacy_scan([NAME, PID, OTHER_NAME, "Jane Poe", "Dr_Smith_clinic"],
                                 imagesets=list(sets.values()), folders=[cache])
    assert scan.clean, str(scan)


def test_pickles_and_copies_never_carry_local_paths(named_scans, cache):
    ds = data.load_dataset(f"folder:{named_scans}", image_size=32)
    assert len(ds.report.with_paths()) > len(str(ds.report))
    for copy in (pickle.loads(pickle.dumps(ds)), pickle.loads(pickle.dumps(ds.report))):
        report = copy.report if hasattr(copy, "report") else copy
        assert report.local_path(report.skipped[0][0]) is None
        assert "Jane_Poe" not in report.with_paths()
    assert b"Jane_Poe" not in pickle.dumps(folder._MEMO) and b"DOE" not in pickle.dumps(folder._MEMO)
    sub = ds.subset([0, 1])  # a subset in the same session still shows paths on screen
    assert sub.report.local_path(ds.report.skipped[0][0]) is not None


def test_class_folder_named_after_a_patient_is_refused(tmp_path, cache):
    for class_name in ("DOE_JOHN", "john doe scans", "mrn123456", "Doe"):
        root = tmp_path / class_name.replace(" ", "-") / "scans"
        write_mr(root / "lesion" / "a.dcm", seed=1)
        write_mr(root / class_name / "b.dcm", seed=2)
        with pytest.raises(data.DataError, match="identify a patient") as info:
            data.load_dataset(f"folder:{root}", image_size=32)
        message = str(info.value)
        assert class_name not in message and "Rename" in message
        assert "PatientName" in message or "PatientID" in message
    root = tmp_path / "fine"
    write_mr(root / "lesion" / "a.dcm", seed=1)
    write_mr(root / "normal" / "b.dcm", seed=2, name="Roe^Richard", patient_id=OTHER_PID)
    assert data.load_dataset(f"folder:{root}", image_size=32).class_names == ["lesion", "normal"]
    # labels=None keeps such folders usable, without class names
    bad = tmp_path / "DOE_JOHN" / "scans"
    assert data.load_dataset(f"folder:{bad}", image_size=32, labels=None).class_names == []


def test_ids_are_stable_opaque_and_reload_through_the_handle_only(named_scans, cache, tmp_path):
    one = data.load_dataset(f"folder:{named_scans}", image_size=32)
    folder._MEMO.clear()
    two = data.load_dataset(f"folder:{named_scans}/../scans", image_size=32)
    assert one.name == two.name and list(one.metadata["item"]) == list(two.metadata["item"])
    assert one.handle == two.handle
    again = data.load_dataset(one.handle, split="test")
    assert again.name == one.name and len(again) > 0 and again.handle == one.handle
    assert (cache / privacy.KEY_FILE).stat().st_size == 32  # the key of the keyed hash
    # the path lives in this process's memory only: never in repr, to_dict or a pickle
    for shown in (repr(one.handle), json.dumps(one.handle.to_dict()), repr(one)):
        assert str(named_scans) not in shown and "Jane_Poe" not in shown
    for pickled in (pickle.dumps(one.handle), pickle.dumps(one)):
        assert os.fsencode(named_scans) not in pickled and b"Jane_Poe" not in pickled
    # an id alone (as a run folder names it), or an unpickled handle: pass the folder again
    for lost in (one.name, pickle.loads(pickle.dumps(one.handle)), pickle.loads(pickle.dumps(one)).handle,
                 "folder-0123abcd", "pairs-0123abcd"):
        with pytest.raises(data.DataError, match="never stores folder paths") as info:
            data.load_dataset(lost, image_size=32, split="test")
        assert "pass the folder again" in str(info.value) and str(named_scans) not in str(info.value)


def test_privacy_scan_searches_every_skipped_item(tmp_path):
    ds = data.from_arrays(np.zeros((2, 8, 8, 1), np.uint8), name="planted")
    for i in range(30):
        ds.report.skip(f"file-{i:04d}", "constant image")
    ds.report.skip("file-9999", "duplicate of DOE_JOHN_MRN123456.dcm")  # the 31st: print() hides it
    assert "DOE_JOHN" not in str(ds.report)
    scan = privacy_audit.privacy_scan([NAME], imagesets=[ds])
    assert not scan.clean and any("load report" in place for place in scan.found)


def test_privacy_scan_finds_every_written_form(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    (root / "clean.json").write_text('{"patient": "anonymous", "id": "MRN12"}')
    clean = privacy_audit.privacy_scan([NAME, PID], folders=[root])
    assert clean.clean, str(clean)
    plants = {
        "caret.txt": b"name=Doe^John",
        "space.txt": b"DOE JOHN",
        "comma.csv": b"doe, john,42",
        "underscore.log": b"path/doe_john_1.dcm",
        "reversed.md": b"John Doe",
        "glued.txt": b"doejohn",
        "id_alone.txt": b"see MRN123456",
        "utf16.bin": "Doe^John".encode("utf-16-le"),
        "urlenc.html": b'<a href="Doe%5EJohn.png">',
    }
    for name, payload in plants.items():
        case = tmp_path / name
        case.mkdir()
        (case / name).write_bytes(payload)
        scan = privacy_audit.privacy_scan([NAME, PID], folders=[case])
        assert not scan.clean and any(name in place for place in scan.found), name
    archives = tmp_path / "archives"
    archives.mkdir()
    with zipfile.ZipFile(archives / "run.keras", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps({"dataset": "x", "note": "Doe^John" * 50}))
    with gzip.open(archives / "vol.nii.gz", "wb") as gz:
        gz.write(b"\0" * 1000 + b"MRN123456" + b"\0" * 1000)
    scan = privacy_audit.privacy_scan([NAME, PID], folders=[archives])
    assert any("run.keras :: config.json" in p for p in scan.found)
    assert any("vol.nii.gz (gzip content)" in p for p in scan.found)


def test_privacy_scan_copes_with_any_file_name_and_special_files(tmp_path):
    root = tmp_path / "names"
    raw = os.fsencode(root)
    os.mkdir(raw)
    with open(os.path.join(raw, b"\xff\xfeclean.png"), "wb") as fh:  # not UTF-8 at all
        fh.write(b"\x89PNG nothing here")
    os.mkdir(os.path.join(raw, b"sub \xe9t\xe9"))
    with open(os.path.join(raw, b"sub \xe9t\xe9", b"\xffDOE,JOHN.png"), "wb") as fh:
        fh.write(b"pixels")
    os.mkdir(os.path.join(raw, b"Doe John"))  # an identifying (empty) folder name
    os.mkfifo(os.path.join(raw, b"pipe.png"))  # never opened (would block)
    os.symlink(b"/somewhere/MRN123456", os.path.join(raw, b"link"))
    scan = privacy_audit.privacy_scan([NAME, PID], folders=[root])
    text = str(scan)
    text.encode("utf-8")  # printable anywhere: no UnicodeEncodeError
    found = " | ".join(scan.found)
    assert "\\xff«…».png (name)" in found  # the non-UTF-8 name, its identifying part masked
    assert "«…» (name)" in found and "link (link target)" in found and "clean.png" not in found
    assert scan.not_regular and not scan.unreadable
    for form in ("Doe", "DOE", "John", "JOHN", PID):  # printing the result shows no identifier
        assert form not in text, form
    with pytest.raises(ValueError, match="fewer than 3"):
        privacy_audit.privacy_scan(["J."], folders=[root])


def test_patient_identifiers_come_from_the_headers(named_scans):
    found = privacy_audit.patient_identifiers(named_scans)
    assert {NAME, PID, OTHER_NAME, OTHER_PID, "19610203"} <= set(found)


def test_non_utf8_class_and_file_names_load_print_and_scan(tmp_path, cache):
    root = tmp_path / "raw"
    raw = os.fsencode(root)
    for cls in (b"l\xe9sion", b"normal"):  # latin-1 bytes: not UTF-8
        os.makedirs(os.path.join(raw, cls, b"p\xff"))
        for i in range(3):
            blob_png(root / os.fsdecode(cls) / os.fsdecode(b"p\xff") / f"{i}.png", seed=i + 10 * len(cls))
    with open(os.path.join(raw, b"normal", b"DOE\xffJOHN.png"), "wb") as fh:
        fh.write(b"not a png")
    ds = data.load_dataset(f"folder:{root}", image_size=16, split_fractions=(1.0, 0.0, 0.0))
    assert ds.class_names == ["l\\xe9sion", "normal"]  # printable, stored as escapes
    for text in (str(ds.report), ds.report.with_paths(), str(ds.card()), ds.card()._repr_markdown_(),
                 json.dumps(ds.card().to_dict())):
        text.encode("utf-8")  # no lone surrogates anywhere
    assert "DOE\\xffJOHN.png" in ds.report.with_paths()  # on screen only
    scan = privacy_audit.privacy_scan([NAME], imagesets=[ds])
    assert scan.clean and "no trace" in str(scan)


def test_a_run_of_a_folder_evaluated_in_a_new_session_asks_for_the_folder_again(tmp_path, cache, artifacts):
    """A run folder names its dataset by id only: evaluating it cannot find the folder by itself."""
    import shutil

    from medgan_helpers import config, evaluation

    run = tmp_path / "run-of-my-folder"
    shutil.copytree(config.pretrained_dir() / "brain-mri-64", run)
    saved = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, "dataset": "folder-0123abcd"}))
    with pytest.raises(data.DataError, match="pass the folder again") as info:
        evaluation.evaluate_run(run)
    assert "real_train=" in str(info.value) and "imageset.handle" in str(info.value)
