"""Reading one file of a ``folder:`` dataset: PNG/JPEG/TIFF/BMP, DICOM, NIfTI -> 2-D uint8.

* DICOM (pydicom): only the pixel and display tags are read (``specific_tags``), so
  identifying fields (names, IDs, dates, institutions) are never even parsed;
  rescale slope/intercept -> Hounsfield units; CT windows; MONOCHROME1 inverted;
  multi-frame files give one image per frame; files without an extension are
  recognised by the ``DICM`` marker at byte 128.
* NIfTI (nibabel): 3-D volumes -> 2-D slices along ``nifti_axis`` (canonical RAS
  orientation, 2 = axial), near-empty slices dropped.
* Normalisation that suits the modality: percentile clip for MR and other
  continuous data, windowing for CT; 8-bit photos are kept as they are. Then
  pad-to-square and an anti-aliased resize (Pillow LANCZOS).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers.data.imageset import DataError

RASTER_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
DICOM_EXTS = {".dcm", ".dicom", ".ima"}
NIFTI_EXTS = (".nii", ".nii.gz")
#: CT window presets (centre, width) in Hounsfield units.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "soft-tissue": (50.0, 400.0),
    "abdomen": (40.0, 400.0),
    "mediastinum": (50.0, 350.0),
    "liver": (60.0, 160.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}
DEFAULT_CT_WINDOW = "soft-tissue"
#: Only these DICOM tags are read: pixels and how to display them. No patient fields.
DICOM_TAGS = [
    "Modality",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    "PixelSpacing",
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
]
NEAR_EMPTY_FRACTION = 0.02  # a NIfTI slice with < 2 % foreground pixels is dropped


@dataclass
class Slice:
    """One 2-D image on its way through the pipeline (never holds header fields)."""

    item: str  # relative path (+ frame / slice index)
    group: str  # relative path of the file: the unit that splits keep together
    label: str | None
    modality: str
    pixels: np.ndarray  # uint8 H×W or H×W×3 after normalisation, before resizing
    aspect: float = 1.0  # physical width / height of a pixel (NIfTI voxels)


@dataclass
class ScanResult:
    slices: list[Slice] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    steps: set = field(default_factory=set)


def file_kind(path: Path) -> str | None:
    """'raster', 'dicom', 'nifti' or None (not an image)."""
    name = path.name.lower()
    if name.endswith(NIFTI_EXTS):
        return "nifti"
    suffix = path.suffix.lower()
    if suffix in RASTER_EXTS:
        return "raster"
    if suffix in DICOM_EXTS:
        return "dicom"
    if suffix == "" or not suffix[1:].isalpha():  # extension-less (or e.g. ".1234")
        try:
            with open(path, "rb") as fh:
                head = fh.read(132)
        except OSError:
            return None
        if len(head) == 132 and head[128:132] == b"DICM":
            return "dicom"
    return None


# --------------------------------------------------------------------------- normalisation


def percentile_clip(values: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Clip to the [low, high] percentiles and scale to [0, 1] (MR and other relative units)."""
    values = np.asarray(values, dtype=np.float32)
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros_like(values)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def window(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """CT windowing: map [centre - width/2, centre + width/2] HU to [0, 1], clip outside."""
    lo = centre - width / 2.0
    return np.clip((np.asarray(values, dtype=np.float32) - lo) / max(width, 1e-6), 0.0, 1.0)


def resolve_window(ct_window: Any, file_window: tuple[float, float] | None) -> tuple[tuple[float, float], str]:
    """The (centre, width) to use and a human description."""
    if isinstance(ct_window, (tuple, list)) and len(ct_window) == 2:
        return (float(ct_window[0]), float(ct_window[1])), f"custom window C={ct_window[0]} W={ct_window[1]}"
    if ct_window == "auto":
        if file_window is not None:
            return file_window, "the window stored in each DICOM file"
        ct_window = DEFAULT_CT_WINDOW
    if ct_window in CT_WINDOWS:
        c, w = CT_WINDOWS[ct_window]
        return (c, w), f"{ct_window} window C={c:g} W={w:g} HU"
    raise DataError(
        f"Unknown ct_window {ct_window!r}. Use 'auto', one of {', '.join(CT_WINDOWS)}, "
        "or a (centre, width) pair in HU."
    )


def unit_to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255 (rounded, clipped); the loaders' display scale."""
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def _finite_check(values: np.ndarray) -> str | None:
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        return f"contains {bad} NaN or infinite values"
    return None


def _constant_check(values: np.ndarray) -> str | None:
    if values.size == 0:
        return "empty image"
    lo, hi = values.min(), values.max()
    if lo == hi:
        return f"constant image (every pixel = {lo:g})"
    return None


# --------------------------------------------------------------------------- readers


def read_raster(path: Path, rel: str, label, opts, out: ScanResult) -> None:
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as img:
            frames = []
            for frame in ImageSequence.Iterator(img):
                frame.load()
                frames.append(frame.copy())
    except Exception as exc:  # PIL raises many types for corrupt / truncated / non-images
        out.skipped.append((rel, f"unreadable or truncated image ({type(exc).__name__}: {exc})"))
        return
    for f_index, frame in enumerate(frames):
        item = rel if len(frames) == 1 else f"{rel} [page {f_index}]"
        mode = frame.mode
        if mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
            arr = np.asarray(frame.convert("RGB"))
            if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
                arr = arr[..., 0]
        elif mode in ("L", "1"):
            arr = np.asarray(frame.convert("L"))
        else:  # 16-bit / 32-bit integer or float greyscale
            arr = np.asarray(frame)
            if arr.dtype.kind not in "uif":
                arr = np.asarray(frame.convert("F"))
        if (reason := _finite_check(arr)) or (reason := _constant_check(arr)):
            out.skipped.append((item, reason))
            continue
        if arr.dtype == np.uint8:
            pixels = arr
            out.steps.add("8-bit PNG/JPEG/TIFF/BMP kept as stored (already display-ready)")
        else:
            pixels = unit_to_uint8(percentile_clip(arr, *opts["mr_percentiles"]))
            out.steps.add(
                "16-bit / float images: percentile clip "
                f"{opts['mr_percentiles'][0]}-{opts['mr_percentiles'][1]} %"
            )
        modality = "photo" if pixels.ndim == 3 else opts["modality_hint"] or "other"
        out.slices.append(Slice(item, rel, label, modality, pixels))
    out.kinds["PNG/JPEG/TIFF/BMP file"] += 1


def read_dicom(path: Path, rel: str, label, opts, out: ScanResult) -> None:
    import pydicom

    try:
        ds = pydicom.dcmread(path, specific_tags=DICOM_TAGS, force=True)
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            out.skipped.append((rel, "no pixel data found (a truncated file, or a DICOM without an image such as a report)"))
            return
        arr = ds.pixel_array
        modality = str(ds.get("Modality", "") or "OT").upper()
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        file_window = None
        if "WindowCenter" in ds and "WindowWidth" in ds:
            c, w = ds.WindowCenter, ds.WindowWidth
            c = c[0] if isinstance(c, pydicom.multival.MultiValue) else c
            w = w[0] if isinstance(w, pydicom.multival.MultiValue) else w
            file_window = (float(c), float(w))
    except Exception as exc:  # pydicom raises many types for broken files
        out.skipped.append((rel, f"unreadable DICOM ({type(exc).__name__}: {str(exc)[:120]})"))
        return
    finally:
        ds = None  # drop the header object as soon as the pixels are out
    if opts["modality"] != "auto":
        modality = opts["modality"]
    arr = np.asarray(arr)
    if frames == 1:
        arr = arr[None]
    colour = samples == 3
    if not colour:
        arr = arr.astype(np.float32) * slope + intercept  # -> HU for CT
        if slope != 1 or intercept != 0:
            out.steps.add("DICOM rescale slope/intercept applied (CT -> Hounsfield units)")
    out.kinds[f"DICOM {modality}" + (f" ({frames} frames)" if frames > 1 else "")] += 1
    for f_index in range(arr.shape[0]):
        item = rel if frames == 1 else f"{rel} [frame {f_index}]"
        frame = arr[f_index]
        if (reason := _finite_check(frame)) or (reason := _constant_check(frame)):
            out.skipped.append((item, reason))
            continue
        if colour:
            pixels = frame.astype(np.uint8) if frame.dtype == np.uint8 else unit_to_uint8(percentile_clip(frame))
        elif modality == "CT":
            (c, w), description = resolve_window(opts["ct_window"], file_window)
            unit = window(frame, c, w)
            out.steps.add(f"CT windowing: {description}")
            if photometric == "MONOCHROME1":
                unit = 1.0 - unit
            pixels = unit_to_uint8(unit)
            if pixels.min() == pixels.max():
                out.skipped.append((item, f"constant after windowing (all HU outside C={c:g} W={w:g})"))
                continue
        else:
            unit = percentile_clip(frame, *opts["mr_percentiles"])
            out.steps.add(
                f"{modality}: percentile clip {opts['mr_percentiles'][0]}-{opts['mr_percentiles'][1]} % per image"
            )
            if photometric == "MONOCHROME1":
                unit = 1.0 - unit
            pixels = unit_to_uint8(unit)
        if photometric == "MONOCHROME1" and not colour:
            out.steps.add("MONOCHROME1 images inverted (so that bright = dense / high signal)")
        out.slices.append(Slice(item, rel, label, modality, pixels))


def read_nifti(path: Path, rel: str, label, opts, out: ScanResult) -> None:
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(nib.load(str(path)))
        volume = np.asarray(img.dataobj, dtype=np.float32)
        zooms = [float(z) for z in img.header.get_zooms()[:3]]
    except Exception as exc:
        out.skipped.append((rel, f"unreadable NIfTI ({type(exc).__name__}: {str(exc)[:120]})"))
        return
    if volume.ndim == 4:
        out.notes.append(f"{rel}: 4-D volume, only its first volume (of {volume.shape[3]}) used")
        volume = volume[..., 0]
    if volume.ndim == 2:
        volume = volume[:, :, None]
        zooms = zooms[:2] + [1.0]
    if volume.ndim != 3:
        out.skipped.append((rel, f"NIfTI with {volume.ndim} dimensions; expected 2, 3 or 4"))
        return
    if (reason := _finite_check(volume)) is not None:
        finite = np.isfinite(volume)
        out.notes.append(f"{rel}: {reason}; those voxels set to the volume minimum")
        volume = np.where(finite, volume, volume[finite].min() if finite.any() else 0.0)
    if (reason := _constant_check(volume)) is not None:
        out.skipped.append((rel, reason))
        return
    modality = opts["modality"]
    if modality == "auto":
        modality = "CT" if np.percentile(volume, 1) < -500 else "MR"
    if modality == "CT":
        (c, w), description = resolve_window(opts["ct_window"], None)
        unit = window(volume, c, w)
        out.steps.add(f"CT windowing: {description}")
    else:
        unit = percentile_clip(volume, *opts["mr_percentiles"])
        out.steps.add(
            f"{modality} volumes: percentile clip {opts['mr_percentiles'][0]}-"
            f"{opts['mr_percentiles'][1]} % per volume"
        )
    axis = opts["nifti_axis"]
    in_plane = [zooms[i] for i in range(3) if i != axis]
    aspect = in_plane[0] / in_plane[1] if in_plane[1] > 0 else 1.0
    dropped = 0
    for k in range(unit.shape[axis]):
        plane = np.take(unit, k, axis=axis)
        if (plane > 0.1).mean() < NEAR_EMPTY_FRACTION:
            dropped += 1
            continue
        # canonical RAS: show anterior / superior at the top
        pixels = unit_to_uint8(np.rot90(plane))
        out.slices.append(Slice(f"{rel} [slice {k}]", rel, label, modality, pixels, aspect))
    if dropped:
        out.notes.append(
            f"{rel}: {dropped} near-empty slices (< {NEAR_EMPTY_FRACTION:.0%} foreground) dropped"
        )
        out.steps.add("near-empty NIfTI slices dropped")
    out.kinds[f"NIfTI volume ({modality})"] += 1


# --------------------------------------------------------------------------- geometry


def pad_to_square_and_resize(pixels: np.ndarray, image_size: int, aspect: float = 1.0) -> np.ndarray:
    """Pad with black to a square (centred), then resize with anti-aliasing (LANCZOS)."""
    from PIL import Image

    img = Image.fromarray(pixels)
    if abs(aspect - 1.0) > 0.01:  # rows = 2nd in-plane axis after rot90: stretch width by aspect
        w, h = img.size
        img = img.resize((max(1, round(w * aspect)), h), Image.LANCZOS)
    w, h = img.size
    side = max(w, h)
    canvas = Image.new(img.mode, (side, side), 0)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return np.asarray(canvas.resize((image_size, image_size), Image.LANCZOS))
