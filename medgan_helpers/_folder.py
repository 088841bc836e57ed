"""``folder:PATH`` — a user's own images: PNG/JPEG/TIFF/BMP, DICOM and NIfTI, recursively.

* Class = the first-level sub-folder name (no sub-folders -> no labels).
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
* Bad files are skipped and listed in the report with the reason; splits keep
  every slice of one file together. Nothing is ever written into the folder.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
MODALITIES = ("auto", "MR", "CT", "XR", "US", "PT", "NM", "photo", "other")
COLORS = ("auto", "grey", "gray", "rgb")
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
MIN_SIZE, MAX_SIZE = 8, 1024
_MEMO: dict[tuple, Any] = {}


@dataclass
class _Slice:
    """One 2-D image on its way through the pipeline (never holds header fields)."""

    item: str  # relative path (+ frame / slice index)
    group: str  # relative path of the file: the unit that splits keep together
    label: str | None
    modality: str
    pixels: np.ndarray  # uint8 H×W or H×W×3 after normalisation, before resizing
    aspect: float = 1.0  # physical width / height of a pixel (NIfTI voxels)


@dataclass
class _Result:
    slices: list[_Slice] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    steps: set = field(default_factory=set)


def _data():
    from medgan_helpers import data

    return data


def _kind(path: Path) -> str | None:
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
    raise _data().DataError(
        f"Unknown ct_window {ct_window!r}. Use 'auto', one of {', '.join(CT_WINDOWS)}, "
        "or a (centre, width) pair in HU."
    )


def _to_uint8(unit: np.ndarray) -> np.ndarray:
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


def _read_raster(path: Path, rel: str, label, opts, out: _Result) -> None:
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
            pixels = _to_uint8(percentile_clip(arr, *opts["mr_percentiles"]))
            out.steps.add(
                "16-bit / float images: percentile clip "
                f"{opts['mr_percentiles'][0]}-{opts['mr_percentiles'][1]} %"
            )
        modality = "photo" if pixels.ndim == 3 else opts["modality_hint"] or "other"
        out.slices.append(_Slice(item, rel, label, modality, pixels))
    out.kinds["PNG/JPEG/TIFF/BMP file"] += 1


def _read_dicom(path: Path, rel: str, label, opts, out: _Result) -> None:
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
            pixels = frame.astype(np.uint8) if frame.dtype == np.uint8 else _to_uint8(percentile_clip(frame))
        elif modality == "CT":
            (c, w), description = resolve_window(opts["ct_window"], file_window)
            unit = window(frame, c, w)
            out.steps.add(f"CT windowing: {description}")
            if photometric == "MONOCHROME1":
                unit = 1.0 - unit
            pixels = _to_uint8(unit)
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
            pixels = _to_uint8(unit)
        if photometric == "MONOCHROME1" and not colour:
            out.steps.add("MONOCHROME1 images inverted (so that bright = dense / high signal)")
        out.slices.append(_Slice(item, rel, label, modality, pixels))


def _read_nifti(path: Path, rel: str, label, opts, out: _Result) -> None:
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
        pixels = _to_uint8(np.rot90(plane))
        out.slices.append(_Slice(f"{rel} [slice {k}]", rel, label, modality, pixels, aspect))
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


# --------------------------------------------------------------------------- walking and splitting


def _scan(root: Path, opts) -> _Result:
    out = _Result()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    has_subfolders = opts["labels"] == "subfolder" and any(
        len(p.relative_to(root).parts) > 1 and _kind(p) for p in files
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        kind = _kind(path)
        if kind is None:
            out.skipped.append((rel, "not an image file (unknown extension and no DICM marker)"))
            continue
        label = None
        if has_subfolders:
            parts = path.relative_to(root).parts
            if len(parts) == 1:
                out.skipped.append((rel, "not inside a class sub-folder (the other images are)"))
                continue
            label = parts[0]
        reader = {"raster": _read_raster, "dicom": _read_dicom, "nifti": _read_nifti}[kind]
        reader(path, rel, label, opts, out)
    return out


def _fingerprint(root: Path) -> tuple:
    entries = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            entries.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


def _split_groups(groups_by_label: dict, seed: int, fractions) -> tuple[dict[str, str], list[str]]:
    """Assign every file (group) to a split, per class, deterministically for a seed."""
    assignment: dict[str, str] = {}
    notes = []
    for index, (label, groups) in enumerate(sorted(groups_by_label.items(), key=lambda kv: str(kv[0]))):
        groups = sorted(groups)
        order = np.random.default_rng([seed, index]).permutation(len(groups))
        n = len(groups)
        if n < 3:
            n_val = n_test = 0
            notes.append(
                f"class {label if label is not None else '(all)'}: only {n} file(s), all in train "
                "(splits keep every slice of a file together)"
            )
        else:
            n_val = max(1, round(fractions[1] * n))
            n_test = max(1, round(fractions[2] * n))
            n_val = min(n_val, n - n_test - 1)
        for rank, i in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            assignment[groups[i]] = split
    return assignment, notes


def _prepare(root: Path, image_size: int, seed: int, opts) -> dict:
    key = (str(root), image_size, seed, tuple(sorted((k, str(v)) for k, v in opts.items())), _fingerprint(root))
    if key in _MEMO:
        return _MEMO[key]
    scan = _scan(root, opts)
    data = _data()
    if not scan.slices:
        found = Counter(
            (_kind(p) or (p.suffix.lower() or "no extension")) for p in root.rglob("*") if p.is_file()
        )
        what = ", ".join(f"{n} × {k}" for k, n in sorted(found.items())) or "no files at all"
        reasons = Counter(r.split(" (")[0] for _, r in scan.skipped)
        why = "; ".join(f"{n} × {r}" for r, n in reasons.most_common(5))
        raise data.DataError(
            f"No usable images in folder {root}. Found: {what}." + (f" Skipped: {why}." if why else "")
            + " The kit reads PNG/JPEG/TIFF/BMP, DICOM (.dcm or files with the DICM marker) and "
            "NIfTI (.nii/.nii.gz), recursively; put images of each class in its own sub-folder."
        )
    # colour policy
    colour_count = sum(s.pixels.ndim == 3 for s in scan.slices)
    color = opts["color"]
    use_rgb = color == "rgb" or (color == "auto" and colour_count > len(scan.slices) / 2)
    channels = 3 if use_rgb else 1
    if use_rgb:
        scan.steps.add("kept in colour (RGB); greyscale images repeated into 3 channels")
    elif colour_count:
        scan.steps.add("colour images converted to greyscale (ITU-R 601 luma)")
    prepared, items, groups, labels = [], [], [], []
    seen: dict[bytes, str] = {}
    for s in scan.slices:
        pix = s.pixels
        if use_rgb and pix.ndim == 2:
            pix = np.repeat(pix[..., None], 3, axis=2)
        elif not use_rgb and pix.ndim == 3:
            pix = _to_uint8(pix.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0)
        out = pad_to_square_and_resize(pix, image_size, s.aspect)
        if out.ndim == 2:
            out = out[..., None]
        digest = hashlib.sha1(out.tobytes()).digest()
        if digest in seen:
            scan.skipped.append((s.item, f"duplicate of {seen[digest]}"))
            continue
        seen[digest] = s.item
        prepared.append(out)
        items.append(s.item)
        groups.append(s.group)
        labels.append(s.label)
    scan.steps.add(f"padded to a square with black, resized to {image_size}×{image_size} (LANCZOS anti-aliasing)")
    scan.steps.add("stored as uint8 0-255; scaled to [-1, 1] on use")
    class_names = sorted({lab for lab in labels if lab is not None})
    groups_by_label: dict = {}
    for g, lab in zip(groups, labels):
        groups_by_label.setdefault(lab, set()).add(g)
    assignment, split_notes = _split_groups(groups_by_label, seed, opts["split_fractions"])
    split_of = np.array([assignment[g] for g in groups])
    label_ids = None if not class_names else np.array([class_names.index(lab) for lab in labels], np.int64)
    result = {
        "pixels": np.stack(prepared).reshape(len(prepared), image_size, image_size, channels),
        "labels": label_ids,
        "class_names": class_names,
        "items": np.array(items),
        "split": split_of,
        "scan": scan,
        "split_notes": split_notes,
        "modalities": Counter(s.modality for s in scan.slices),
    }
    if len(_MEMO) > 4:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = result
    return result


def load(
    path: str,
    image_size: int,
    split: str,
    seed: int = 0,
    *,
    color: str = "auto",
    modality: str = "auto",
    ct_window: Any = "auto",
    mr_percentiles: tuple[float, float] = (0.5, 99.5),
    nifti_axis: int = 2,
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    labels: str | None = "subfolder",
):
    """Load one split of a folder as an ImageSet (see the module docstring)."""
    data = _data()
    if not path:
        raise data.DataError("folder: needs a path, e.g. 'folder:/data/my_scans'.")
    root = Path(path).expanduser()
    if not root.exists():
        raise data.DataError(f"Folder {root} does not exist. Check the path after 'folder:'.")
    if not root.is_dir():
        raise data.DataError(f"{root} is a file, not a folder. Use 'folder:' with the folder that holds it.")
    root = root.resolve()
    if not MIN_SIZE <= image_size <= MAX_SIZE:
        raise data.DataError(f"image_size={image_size} is out of range for folders; use {MIN_SIZE}..{MAX_SIZE} (e.g. 64).")
    if color not in COLORS:
        raise data.DataError(f"color={color!r} is not valid. Valid choices: {', '.join(COLORS)}.")
    canonical = {m.lower(): m for m in MODALITIES}
    if str(modality).lower() not in canonical:
        raise data.DataError(f"modality={modality!r} is not valid. Valid choices: {', '.join(MODALITIES)}.")
    modality = canonical[str(modality).lower()]
    if nifti_axis not in (0, 1, 2):
        raise data.DataError(f"nifti_axis={nifti_axis} is not valid: use 0 (sagittal), 1 (coronal) or 2 (axial).")
    lo, hi = mr_percentiles
    if not 0 <= lo < hi <= 100:
        raise data.DataError(f"mr_percentiles={mr_percentiles} must satisfy 0 <= low < high <= 100.")
    if len(split_fractions) != 3 or abs(sum(split_fractions) - 1) > 1e-6 or min(split_fractions) < 0:
        raise data.DataError(f"split_fractions={split_fractions} must be 3 non-negative numbers summing to 1.")
    if labels not in ("subfolder", None):
        raise data.DataError(f"labels={labels!r} is not valid: use 'subfolder' or None.")
    resolve_window(ct_window, None)  # validates the name early
    opts = {
        "color": "grey" if color == "gray" else color,
        "modality": modality,
        "modality_hint": None if modality == "auto" else modality,
        "ct_window": tuple(ct_window) if isinstance(ct_window, list) else ct_window,
        "mr_percentiles": (float(lo), float(hi)),
        "nifti_axis": int(nifti_axis),
        "split_fractions": tuple(float(f) for f in split_fractions),
        "labels": labels,
    }
    prep = _prepare(root, image_size, seed, opts)
    mask = prep["split"] == split
    if not mask.any():
        raise data.DataError(
            f"The {split!r} split of folder {root} is empty: "
            + "; ".join(prep["split_notes"] or ["too few files"])
            + ". Use split='train', or add more files (each file goes wholly to one split)."
        )
    names = prep["class_names"]
    all_labels = prep["labels"]
    counts = {
        s: data._class_counts(
            None if all_labels is None else all_labels[prep["split"] == s], names, int((prep["split"] == s).sum())
        )
        for s in data.SPLITS
    }
    scan = prep["scan"]
    report = data.LoadReport(f"folder:{root}", split, loaded=int(mask.sum()))
    report.skipped = list(scan.skipped)
    report.notes = [
        "found: " + ", ".join(f"{n} × {k}" for k, n in sorted(scan.kinds.items())),
        *scan.notes,
        *prep["split_notes"],
        "splits are by file: all slices / frames of one file are in the same split",
    ]
    modalities = ", ".join(f"{m} ({n} images)" for m, n in prep["modalities"].most_common())
    card = data.DatasetCard(
        name=f"folder:{root.name}",
        source=f"local folder {root} (read only; nothing is written there)",
        modality=modalities,
        licence="your own data: make sure you may use it (consent, data-use agreement, licence)",
        description=(
            f"{len(prep['pixels'])} images from {sum(scan.kinds.values())} files; "
            + (f"classes from sub-folders: {', '.join(names)}" if names else "no class sub-folders: unlabelled")
        ),
        image_size=image_size,
        channels=int(prep["pixels"].shape[-1]),
        class_names=names,
        counts=counts,
        preprocessing=sorted(scan.steps),
        notes=[
            "DICOM: only pixel and display tags were read; no patient name, ID, date or "
            "institution was read, kept or written anywhere",
            f"split by file with seed {seed}, fractions train/val/test = {opts['split_fractions']}",
        ],
    )
    return data.ImageSet(
        prep["pixels"][mask],
        None if all_labels is None else all_labels[mask],
        names,
        name=f"folder:{root.name}",
        split=split,
        report=report,
        card=card,
        metadata={"item": prep["items"][mask]},
    )
