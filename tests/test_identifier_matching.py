"""The class-name check and privacy_scan see through Unicode forms, case and ID prefixes.

Issue 21: a class folder named after the patient in NFD (as macOS writes names),
or an MRN without its prefix (``MRN-001234`` vs ``case_001234``), was accepted and
the scan said "clean". Real files in tmp_path (the helpers of tests/test_privacy.py).
"""

from __future__ import annotations

import os
import unicodedata

import pydicom
import pytest
from test_privacy import blob_png, write_mr

from medgan_helpers import data, privacy_audit
from medgan_helpers.data import privacy

NAME, MRN = "Müller^Jürgen", "MRN-001234"


def scans_with_class(root, class_name: str):
    """lesion/ holds the patient's DICOM; a second class folder is named ``class_name``."""
    write_mr(root / "lesion" / "a.dcm", name=NAME, patient_id=MRN, seed=1)
    write_mr(root / class_name / "b.dcm", name="Roe^Richard", patient_id="MRN-987650", seed=2)
    return root


@pytest.mark.parametrize("class_name", [
    unicodedata.normalize("NFD", "müller_jürgen"),  # decomposed: u + combining diaeresis
    unicodedata.normalize("NFD", "JÜRGEN MÜLLER"),
    "ｍüller",  # full-width m: NFKC makes it ASCII
    "case_001234",  # the MRN without its prefix
    "case1234",  # leading zeros dropped too
])
def test_class_named_after_a_patient_in_any_form_is_refused(tmp_path, cache, class_name):
    root = scans_with_class(tmp_path / "scans", class_name)
    with pytest.raises(data.DataError, match="identify a patient") as info:
        data.load_dataset(f"folder:{root}", image_size=32)
    assert class_name not in str(info.value) and "NFKC" in str(info.value)


@pytest.mark.parametrize("class_name", ["case_12345", "cohort_2020", "mull", "tumour"])
def test_other_digit_runs_and_short_words_are_not_mistaken_for_the_patient(tmp_path, cache, class_name):
    root = scans_with_class(tmp_path / "scans", class_name)
    assert class_name in data.load_dataset(f"folder:{root}", image_size=32).class_names


def test_class_names_are_checked_against_every_header_even_without_pixels(tmp_path, cache):
    """A report DICOM (no image) names the patient; that patient's PNG-only class is refused."""
    root = tmp_path / "scans"
    write_mr(root / "lesion" / "a.dcm", name="Roe^Richard", patient_id="MRN-987650", seed=1)
    write_mr(root / "lesion" / "report.dcm", name=NAME, patient_id=MRN, seed=2)
    report = pydicom.dcmread(root / "lesion" / "report.dcm")
    del report.PixelData  # like a structured report: a header and no image
    report.save_as(root / "lesion" / "report.dcm")
    blob_png(root / "Jürgen_Müller" / "x.png", seed=3)
    with pytest.raises(data.DataError, match="identify a patient"):
        data.load_dataset(f"folder:{root}", image_size=32)


def test_png_only_folder_class_names_are_accepted_and_said_to_be_unchecked(tmp_path, cache):
    """No DICOM header at all: nothing to compare with. The report says so instead of claiming a check."""
    root = tmp_path / "photos"
    for cls in ("Ann_Example", "normal"):
        for k in range(3):
            blob_png(root / cls / f"{k}.png", seed=10 * len(cls) + k)
    ds = data.load_dataset(f"folder:{root}", image_size=32, split_fractions=(1.0, 0.0, 0.0))
    assert ds.class_names == ["Ann_Example", "normal"]
    assert "class names NOT checked for patient names or IDs" in str(ds.report)
    with_dicom = scans_with_class(tmp_path / "dicom", "tumour")
    checked = data.load_dataset(f"folder:{with_dicom}", image_size=32, split_fractions=(1.0, 0.0, 0.0))
    assert "NOT checked" not in str(checked.report)


def test_privacy_scan_finds_nfd_names_and_prefixless_ids(tmp_path):
    for place, name in {
        "nfd": unicodedata.normalize("NFD", "Müller Jürgen.png"),
        "nfd_upper": unicodedata.normalize("NFD", "MÜLLER_JÜRGEN"),
        "nfkc": "ｍüller^jürgen.txt",
        "digits": "case_001234.png",
        "digits_no_zeros": "scan-1234",
    }.items():
        folder = tmp_path / place
        folder.mkdir()
        (folder / name).write_bytes(b"pixels")
        scan = privacy_audit.privacy_scan([NAME, MRN], folders=[folder])
        assert not scan.clean and any("«…»" in p for p in scan.found), (place, scan.found)
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "notes.txt").write_bytes(unicodedata.normalize("NFD", "patient müller, jürgen").encode())
    assert not privacy_audit.privacy_scan([NAME], folders=[inside]).clean
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "run.json").write_text('{"id": "case_12345", "year": 2020, "seed": 1234567}')
    assert privacy_audit.privacy_scan([NAME, MRN], folders=[clean]).clean


def test_normalise_and_digit_runs():
    assert privacy.normalise(unicodedata.normalize("NFD", "MÜLLER")) == "müller"
    assert privacy.normalise("Straße") == privacy.normalise("STRASSE")
    assert privacy.digit_runs("MRN-001234") == ["1234"] and privacy.digit_runs("P-12") == []
    assert privacy.digit_runs("ID 0000") == []
    # too few significant digits to stand alone: it would match every file counter
    assert privacy.digit_runs("DEMO-0001") == [] and privacy.digit_runs("DEMO-10001") == ["10001"]
    assert privacy.is_placeholder("ANONYMOUS") and privacy.is_placeholder("n/a") and privacy.is_placeholder("000")
    assert not privacy.is_placeholder("7") and not privacy.is_placeholder("MRN-001234")


def test_nfd_folder_names_reach_the_loader_unchanged(tmp_path, cache):
    """Linux keeps the bytes as written, so the test really sees a decomposed name."""
    name = unicodedata.normalize("NFD", "müller")
    root = scans_with_class(tmp_path / "scans", name)
    assert os.fsencode(name) in os.listdir(os.fsencode(root))
