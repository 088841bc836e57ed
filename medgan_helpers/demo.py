"""A small folder of real scans in mixed formats, to try the "your own data" path.

:func:`make_demo_folder` writes, into a folder of the kit's own (never a user's),
files a researcher might bring — all with real image content:

- ``axial_nifti/``     the MNI ICBM152 2009a T1 template (from the nilearn wheel)
                       saved as 8 NIfTI volumes, each a slab of axial planes
                       (like 8 short scans); the loader slices them axially
- ``coronal_png/``     coronal slices of the same template as 8-bit PNG files
- ``sagittal_dicom/``  sagittal slices as MR DICOM files, one file per slice, in one
                       folder per (made-up) patient named by the patient ID, as
                       PACS exports often are; every header carries the patient's
                       name and ID — so you can see the kit keep none of them
                       and split by patient
- ``pydicom_samples/`` pydicom's bundled real CT and MR test images (one without
                       a file extension, recognised by its DICM marker)

plus a few broken files that the load report must list and skip: a truncated
DICOM, a text file named ``.png``, a constant (blank) image and a duplicate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from medgan_helpers import config

#: The made-up identities written into the demo DICOM headers (never real people).
DEMO_PATIENTS = (
    ("Doe^Jane", "DEMO-0001"),
    ("Roe^Richard", "DEMO-0002"),
    ("Major^Mary", "DEMO-0003"),
    ("Public^John^Q", "DEMO-0004"),
    ("Moe^Maria", "DEMO-0005"),
    ("Poe^Peter", "DEMO-0006"),
)
#: The first demo patient (the one the notebook and its exercises search for).
DEMO_PATIENT_NAME, DEMO_PATIENT_ID = DEMO_PATIENTS[0]

#: What make_demo_folder puts in each class folder (usable files, broken files).
LAYOUT = {
    "axial_nifti": "8 NIfTI volumes (slabs of axial slices)",
    "coronal_png": "coronal PNG slices",
    "sagittal_dicom": "sagittal MR DICOM slices of 6 made-up patients, one folder each",
    "pydicom_samples": "pydicom's real CT and MR test images",
}


def _template() -> tuple[np.ndarray, np.ndarray]:
    from nilearn.datasets import load_mni152_template

    img = load_mni152_template(resolution=1)
    return np.asarray(img.get_fdata(), dtype=np.float32), img.affine


def _to_uint8(slice_2d: np.ndarray) -> np.ndarray:
    top = float(np.percentile(slice_2d, 99.5)) or 1.0
    return (np.clip(slice_2d / top, 0, 1) * 255).astype(np.uint8)


def _write_dicom(path: Path, pixels: np.ndarray, index: int, patient: tuple[str, str]) -> None:
    """Write one MR slice of ``patient`` (name, ID) as a real DICOM file (explicit VR LE)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientName, ds.PatientID = patient
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20260101"
    ds.InstitutionName = "Demo Hospital"
    ds.InstanceNumber = index
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = (pixels.astype(np.float32) * 4000).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def make_demo_folder(target: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write the demo folder (default: ``<artifacts>/demo-scans``) and return its path.

    An existing demo folder is reused unless ``overwrite`` is true.
    """
    import nibabel as nib
    import pydicom.data
    from PIL import Image

    target = Path(target) if target is not None else config.artifacts_dir() / "demo-scans"
    marker = target / ".medgan-demo"
    if marker.exists() and not overwrite:
        return target
    if target.exists():
        if not marker.exists():
            raise FileExistsError(
                f"{target} exists and is not a demo folder made by the kit; "
                "choose another target so nothing of yours is overwritten."
            )
        shutil.rmtree(target)
    volume, affine = _template()
    volume = volume / max(float(volume.max()), 1e-6)

    axial = target / "axial_nifti"
    axial.mkdir(parents=True)
    # 8 slabs of every 2nd axial plane: several "scans", so that whole volumes can
    # go to train, val or test (as a patient's slices should)
    planes = np.arange(16, 160, 2)
    for i, slab in enumerate(np.array_split(planes, 8), start=1):
        nib.save(nib.Nifti1Image(volume[:, :, slab], affine), axial / f"slab_{i}.nii.gz")

    coronal = target / "coronal_png"
    coronal.mkdir()
    for y in range(60, 180, 3):  # 40 coronal planes through the brain
        plane = np.rot90(volume[:, y, :])
        Image.fromarray(_to_uint8(plane)).save(coronal / f"coronal_{y:03d}.png")

    sagittal = target / "sagittal_dicom"
    # one hemisphere only: the template is left-right symmetric, so planes mirrored
    # across the midline would be exact duplicates. 30 sagittal planes, 5 per patient,
    # one file per slice in a folder per patient (named by the ID, as PACS exports are)
    for i, x in enumerate(range(38, 98, 2)):
        patient = DEMO_PATIENTS[i // 5]
        folder = sagittal / patient[1]
        folder.mkdir(parents=True, exist_ok=True)
        _write_dicom(folder / f"IM{i % 5 + 1:04d}.dcm", np.rot90(volume[x, :, :]), i % 5 + 1, patient)

    samples = target / "pydicom_samples"
    samples.mkdir()
    bundled = Path(pydicom.data.__file__).parent / "test_files"
    shutil.copy(bundled / "CT_small.dcm", samples / "CT_small.dcm")
    shutil.copy(bundled / "MR_small.dcm", samples / "MR_SMALL_NO_EXTENSION")

    # broken files the loader must skip and report
    (coronal / "notes.png").write_text("this is a text file with an image extension\n")
    Image.fromarray(np.zeros((96, 96), np.uint8)).save(coronal / "blank.png")
    shutil.copy(coronal / "coronal_120.png", coronal / "coronal_120_copy.png")
    raw = (bundled / "CT_small.dcm").read_bytes()
    (samples / "truncated.dcm").write_bytes(raw[: len(raw) // 3])

    marker.write_text("made by medgan_helpers.demo.make_demo_folder\n")
    return target
