"""Notebook 07's helpers: the demo folder, class filtering, settings and the privacy scan."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from medgan_helpers import data, demo, own_data


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    return demo.make_demo_folder(tmp_path_factory.mktemp("scans") / "demo")


def test_demo_folder_holds_real_files_in_every_format(demo_folder):
    assert sorted(p.name for p in demo_folder.iterdir() if p.is_dir()) == sorted(demo.LAYOUT)
    import nibabel as nib

    slabs = sorted((demo_folder / "axial_nifti").glob("*.nii.gz"))
    assert len(slabs) == 8 and all(nib.load(p).ndim == 3 for p in slabs)
    dicoms = sorted((demo_folder / "sagittal_dicom").rglob("*.dcm"))
    assert len(dicoms) == 30  # one file per slice, 5 per patient folder
    assert sorted(p.name for p in (demo_folder / "sagittal_dicom").iterdir()) == [
        pid for _, pid in demo.DEMO_PATIENTS
    ]
    header = pydicom.dcmread(dicoms[0])
    assert str(header.PatientName) == demo.DEMO_PATIENT_NAME  # the demo really carries one
    assert dicoms[0].parent.name == header.PatientID == demo.DEMO_PATIENT_ID
    assert header.pixel_array.std() > 0
    # the extension-less file is a real DICOM recognised by its marker
    raw = (demo_folder / "pydicom_samples" / "MR_SMALL_NO_EXTENSION").read_bytes()
    assert raw[128:132] == b"DICM"


def test_demo_folder_is_reused_and_never_overwrites_a_foreign_folder(demo_folder, tmp_path):
    stamp = (demo_folder / ".medgan-demo").stat().st_mtime_ns
    assert demo.make_demo_folder(demo_folder) == demo_folder
    assert (demo_folder / ".medgan-demo").stat().st_mtime_ns == stamp
    foreign = tmp_path / "my-scans"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a demo folder"):
        demo.make_demo_folder(foreign, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "mine"


def _small_brain():
    ds = data.load_dataset("brain-mri", image_size=32, split="val")
    counts = ds.class_counts()
    assert len(counts) == 4
    return ds


def test_keep_classes_drops_small_classes_and_renumbers():
    ds = _small_brain()
    # make class 1 tiny: keep only 3 of its images
    labels = ds.labels
    idx = np.concatenate([np.flatnonzero(labels != 1), np.flatnonzero(labels == 1)[:3]])
    small = ds.subset(np.sort(idx))
    kept = own_data.keep_classes(small, min_images=10)
    assert kept.class_names == [n for i, n in enumerate(ds.class_names) if i != 1]
    assert sorted(np.unique(kept.labels)) == [0, 1, 2]
    assert len(kept) == len(small) - 3
    assert any("dropped classes" in note for note in kept.report.notes)
    # pixels travel with their labels
    first_vertex = np.flatnonzero(small.labels == 3)[0]
    assert np.array_equal(kept.pixels[np.flatnonzero(kept.labels == 2)[0]], small.pixels[first_vertex])


def test_keep_classes_refuses_when_nothing_is_left():
    with pytest.raises(data.DataError, match="MIN_IMAGES_PER_CLASS"):
        own_data.keep_classes(_small_brain(), min_images=10**6)


def test_suggest_settings_scale_with_data():
    small, large = own_data.suggest_settings(120, quick=False), own_data.suggest_settings(5000, quick=False)
    assert small.batch_size < large.batch_size
    assert small.base_filters <= large.base_filters
    assert small.epochs > large.epochs
    assert 1500 <= large.steps <= 3500
    assert own_data.suggest_settings(120, quick=True).steps < small.steps
    lab = own_data.suggest_settings(120, preset="lab")
    assert own_data.suggest_settings(120, quick=True).steps < lab.steps < small.steps
    assert own_data.suggest_settings(120, quick=True, preset="full").steps == small.steps  # preset wins
    with pytest.raises(ValueError, match="unknown preset"):
        own_data.suggest_settings(120, preset="fast")
    with pytest.raises(ValueError, match="too few"):
        own_data.suggest_settings(3)


def test_privacy_scan_finds_a_planted_name_and_passes_clean_files(tmp_path):
    (tmp_path / "clean.json").write_text('{"patient": "anonymous"}')
    scan = own_data.privacy_scan(["Doe^Jane"], folders=[tmp_path])
    assert scan.clean and "no trace" in str(scan)
    (tmp_path / "leak.txt").write_text("name: Doe Jane")  # the '^' written as a space
    scan = own_data.privacy_scan(["Doe^Jane"], folders=[tmp_path])
    assert not scan.clean and "leak.txt" in str(scan)


def test_identifying_fields_names_fields_but_never_values(demo_folder):
    dicom = sorted((demo_folder / "sagittal_dicom").rglob("*.dcm"))[0]
    fields = own_data.identifying_fields(dicom)
    assert {"PatientName", "PatientID", "PatientBirthDate", "InstitutionName"} <= set(fields)
    assert demo.DEMO_PATIENT_NAME not in repr(fields)


def test_curation_and_the_privacy_audit_are_two_modules_and_notebook_07_calls_both_through_own_data():
    import ast
    import inspect

    from medgan_helpers import privacy_audit

    # notebook 07 calls these six names on own_data: the audit's are the audit module's own objects
    for name in ("privacy_scan", "patient_identifiers", "identifying_fields"):
        assert getattr(own_data, name) is getattr(privacy_audit, name) and name in own_data.__all__
    for name in ("keep_classes", "restrict_to_classes", "suggest_settings"):
        assert getattr(own_data, name).__module__ == "medgan_helpers.own_data" and name in own_data.__all__
    assert all(hasattr(own_data, name) for name in own_data.__all__)
    # curation defines no audit code, and neither module reads another module's private names
    tree = ast.parse(inspect.getsource(own_data))
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert defined == {"keep_classes", "restrict_to_classes", "suggest_settings", "Settings"}
    for module in (own_data, privacy_audit):
        private_reads = [ast.unparse(n) for n in ast.walk(ast.parse(inspect.getsource(module)))
                         if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.endswith("_")
                         and not (isinstance(n.value, ast.Name) and n.value.id == "self")]
        assert private_reads == [], (module.__name__, private_reads)


def test_restricted_sets_keep_their_on_screen_paths_and_their_handle(demo_folder, cache):
    train = data.load_dataset(f"folder:{demo_folder}", image_size=16, split="train")
    kept = own_data.restrict_to_classes(train, train.class_names[:1], note="one class")
    assert kept.handle == train.handle and data.load_dataset(kept.handle).name == train.name
    assert kept.report.notes[-1] == "one class" and kept.report.skipped == train.report.skipped
    if train.report.skipped:
        item = train.report.skipped[0][0]
        assert kept.report.local_path(item) == train.report.local_path(item) is not None
