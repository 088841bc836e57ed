"""Reading one file of a ``folder:`` dataset: PNG/JPEG/TIFF/BMP, DICOM, NIfTI -> 2-D uint8.

* Only regular files are opened (``O_NONBLOCK``, then ``fstat``): a FIFO, device
  or socket is skipped with the reason, never read (reading a FIFO would block).
* Multi-page TIFFs and multi-frame DICOMs are streamed one page / frame at a
  time, and each image is padded and resized to the output size at once, so a
  file never occupies more than one page's worth of memory:
  :func:`memory_bound` — 20 bytes per pixel of the largest page plus 64 MB for
  the decoders, whatever the number of pages. Pages above ``MAX_PAGE_PIXELS``
  (40 megapixels, so ~0.9 GB at most) are skipped with the reason.
* DICOM (pydicom): the display tags, and — in memory only — the values that say
  whose scan it is (PatientName, PatientID, …; to refuse identifying class names)
  and which patient / study / series it belongs to (to keep a patient's images
  in one split). They are dropped after loading; nothing else of the header is
  read. Rescale slope/intercept -> Hounsfield units; CT windows; MONOCHROME1
  inverted; files without an extension are recognised by the ``DICM`` marker.
* NIfTI (nibabel): 3-D volumes -> 2-D slices along ``nifti_axis`` (canonical RAS
  orientation, 2 = axial), near-empty slices dropped; a 4-D file gives its first
  volume.
* Normalisation that suits the modality: percentile clip for MR and other
  continuous data, windowing for CT; 8-bit photos are kept as they are. Then
  pad-to-square and an anti-aliased resize (Pillow LANCZOS).

Every item is named by the file's opaque id (``class/file-<id>``), never by its
path; error messages are scrubbed of paths before they reach the report.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from medgan_helpers.data import privacy
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
NEAR_EMPTY_FRACTION = 0.02  # a NIfTI slice with < 2 % foreground pixels is dropped
#: Pages / frames larger than this are skipped (the memory bound).
MAX_PAGE_PIXELS = 40_000_000
#: Peak memory per pixel of the page being read (16-bit page, its float32 copies, resizing).
BYTES_PER_PAGE_PIXEL = 20
#: Plus this much for the decoders' own buffers (Pillow, pydicom, zlib), whatever the file.
READER_OVERHEAD_BYTES = 64 * 1024**2
#: The padding canvas may be at most this many times the image's pixels (see pad_to_square_and_resize).
MAX_CANVAS_RATIO = 2
#: NIfTI volumes (the first volume of a 4-D file) with more voxels are skipped: 512³.
MAX_VOLUME_VOXELS = 512**3
#: Peak memory per voxel of a NIfTI volume (float32 volume, normalisation copies).
NIFTI_BYTES_PER_VOXEL = 20


def memory_bound(page_pixels: int) -> int:
    """The stated bound on the extra memory reading one file takes, given its largest page.

    Pages and frames are read one at a time, so the bound does not grow with their number.
    """
    return BYTES_PER_PAGE_PIXEL * int(page_pixels) + READER_OVERHEAD_BYTES
@dataclass
class FileEntry:
    """One file to read. ``path`` stays in memory; everything stored uses ``item``."""

    path: Path
    item: str  # "class/file-<id>" or "file-<id>"
    label: str | None
    #: (kind, in-memory token) of what ties it to a patient: its patient sub-folder, the file itself
    keys: tuple[tuple[str, str], ...] = ()


@dataclass
class Slice:
    """One 2-D image, already at the output size (never holds header fields or paths)."""

    item: str
    keys: tuple[tuple[str, str], ...]  # the file's grouping keys (folder.patient_groups joins them)
    label: str | None
    modality: str
    pixels: np.ndarray  # uint8 S×S or S×S×3
    #: height, width as read (before padding and resizing): a label map must match its image's
    shape: tuple[int, ...] = ()


@dataclass
class ScanResult:
    """What reading the files gave; ``identities`` is dropped before anything is kept."""

    image_size: int
    slices: list[Slice] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    steps: set = field(default_factory=set)
    identities: privacy.Identities = field(default_factory=privacy.Identities)

    def add(self, entry: FileEntry, item: str, modality: str, pixels: np.ndarray,
            aspect: float = 1.0, keys: tuple[tuple[str, str], ...] = ()) -> None:
        """Keep one image: padded to a square and resized now, so only small images pile up.

        ``keys``: grouping keys read from the file itself (DICOM PatientID, UIDs), besides the entry's.
        """
        small = pad_to_square_and_resize(pixels, self.image_size, aspect)
        self.slices.append(Slice(item, (*entry.keys, *keys), entry.label, modality, small, pixels.shape[:2]))

    def skip(self, item: str, reason: str) -> None:
        """Record a skipped file, page, frame or slice."""
        self.skipped.append((item, reason))


def special_kind(mode: int) -> str | None:
    """None for a regular file, else what it is ("a FIFO (named pipe)", "a socket", …)."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class NotRegularFile(OSError):
    """A path that is not a regular file (a FIFO, device, socket…): never read."""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (never blocks on a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        kind = special_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotRegularFile(f"{kind}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_kind(path: Path) -> str | None:
    """'raster', 'dicom', 'nifti' or None (not an image). Only regular files are opened."""
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
            with open_regular(path) as fh:
                head = fh.read(132)
        except OSError:
            return None
        if len(head) == 132 and head[128:132] == b"DICM":
            return "dicom"
    return None


def failure_reason(what: str, exc: BaseException, entry: FileEntry) -> str:
    """``what (ErrorType: message)`` with the file's path and name scrubbed out."""
    message = privacy.scrub(str(exc), [entry.path])
    return f"{what} ({type(exc).__name__}: {message})" if message else f"{what} ({type(exc).__name__})"


# --------------------------------------------------------------------------- normalisation


def percentile_clip(values: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Clip to the [low, high] percentiles and scale to [0, 1] (MR and other relative units)."""
    values = np.asarray(values, dtype=np.float32)
    # Python floats keep the arithmetic in float32: a volume is never copied as float64
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
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


def finite_check(values: np.ndarray) -> str | None:
    """A reason to skip ``values`` if it holds NaN or infinite values, else None."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        return f"contains {bad} NaN or infinite values"
    return None


def constant_check(values: np.ndarray) -> str | None:
    """A reason to skip ``values`` if it is empty or constant, else None."""
    if values.size == 0:
        return "empty image"
    lo, hi = values.min(), values.max()
    if lo == hi:
        return f"constant image (every pixel = {lo:g})"
    return None


# --------------------------------------------------------------------------- readers


def _raster_array(frame) -> np.ndarray:
    """One Pillow page as uint8 H×W / H×W×3, or its native 16/32-bit or float values."""
    mode = frame.mode
    if mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
        arr = np.asarray(frame.convert("RGB"))
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            arr = arr[..., 0]
        return arr
    if mode in ("L", "1"):
        return np.asarray(frame.convert("L"))
    arr = np.asarray(frame)  # 16-bit / 32-bit integer or float greyscale
    return arr if arr.dtype.kind in "uif" else np.asarray(frame.convert("F"))


def read_raster(entry: FileEntry, opts: dict, out: ScanResult) -> None:
    """PNG/JPEG/TIFF/BMP: every page, one at a time."""
    from PIL import Image, ImageSequence

    try:
        with open_regular(entry.path) as fh, Image.open(fh) as img:
            pages = int(getattr(img, "n_frames", 1) or 1)
            for index, frame in enumerate(ImageSequence.Iterator(img)):
                item = entry.item if pages == 1 else f"{entry.item} [page {index}]"
                width, height = frame.size
                if width * height > MAX_PAGE_PIXELS:
                    out.skip(item, f"page of {width}×{height} pixels is above the "
                             f"{MAX_PAGE_PIXELS // 10**6} megapixel limit (memory bound); "
                             "downsample it first")
                    continue
                try:
                    frame.load()
                    arr = _raster_array(frame)
                except Exception as exc:  # a damaged page: skip it, keep the others
                    what = "unreadable or truncated image" if pages == 1 else "unreadable page"
                    out.skip(item, failure_reason(what, exc, entry))
                    continue
                _keep_raster(entry, item, arr, opts, out)
                del arr
    except Exception as exc:  # PIL raises many types for corrupt / truncated / non-images
        out.skip(entry.item, failure_reason("unreadable or truncated image", exc, entry))
        return
    out.kinds["PNG/JPEG/TIFF/BMP file"] += 1


def _keep_raster(entry: FileEntry, item: str, arr: np.ndarray, opts: dict, out: ScanResult) -> None:
    if (reason := finite_check(arr)) or (reason := constant_check(arr)):
        out.skip(item, reason)
        return
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
    out.add(entry, item, modality, pixels)


def nifti_memory_bound(shape: tuple[int, ...]) -> int:
    """The stated bound on the extra memory reading one NIfTI file of ``shape`` takes.

    The first volume is held once as float32 (read slice by slice, never whole as float64),
    plus its working copies, one slice's worth of reading, and the decoders.
    """
    dims = [int(d) for d in shape[:3]]
    voxels = int(np.prod(dims))
    plane = max(voxels // d for d in dims) if voxels else 0
    return NIFTI_BYTES_PER_VOXEL * voxels + BYTES_PER_PAGE_PIXEL * plane + READER_OVERHEAD_BYTES


def _nifti_volume(entry: FileEntry) -> tuple[np.ndarray, list[float], int | None]:
    """(volume as float32 in canonical RAS, voxel sizes, number of volumes if 4-D).

    The shape is checked from the header against ``MAX_VOLUME_VOXELS`` before any data is
    read; then the first volume is read one slice at a time (nibabel's proxy slicing along
    the last stored axis, so a ``.nii.gz`` is decompressed once) into a float32 array.
    """
    import gzip

    import nibabel as nib

    with open_regular(entry.path) as fh:
        gz = entry.path.name.lower().endswith(".gz")
        with (gzip.GzipFile(fileobj=fh, mode="rb") if gz else fh) as stream:
            img = nib.Nifti1Image.from_stream(stream)
            shape = tuple(int(d) for d in img.shape)
            if len(shape) not in (2, 3, 4):
                raise NiftiRefused(f"NIfTI with {len(shape)} dimensions; expected 2, 3 or 4")
            spatial = shape[:3] if len(shape) > 2 else (*shape, 1)
            if int(np.prod(spatial)) > MAX_VOLUME_VOXELS:
                raise NiftiRefused(
                    f"volume of {'×'.join(map(str, spatial))} voxels is above the "
                    f"{MAX_VOLUME_VOXELS / 1e6:.0f} million voxel limit (memory bound); crop or "
                    "downsample it first"
                )
            volumes = shape[3] if len(shape) == 4 else None
            volume = np.empty(spatial, dtype=np.float32)
            for k in range(spatial[2]):
                index = (slice(None), slice(None), k, 0)[: len(shape)] if len(shape) > 2 else (...,)
                volume[:, :, k] = np.asarray(img.dataobj[index], dtype=np.float32).reshape(spatial[:2])
            ornt = nib.orientations.io_orientation(img.affine)
            zooms = [float(z) for z in (*img.header.get_zooms()[:3], 1.0, 1.0)[:3]]
            canonical = nib.orientations.apply_orientation(volume, ornt)  # flips and transposes: views
            zooms = [zooms[int(np.flatnonzero(ornt[:, 0] == axis)[0])] for axis in range(3)]
            return canonical, zooms, volumes


class NiftiRefused(ValueError):
    """A NIfTI file refused from its header (too many voxels or dimensions), before reading."""


def read_nifti_volume(entry: FileEntry, out: ScanResult, what: str = "NIfTI") -> tuple[np.ndarray, list[float]] | None:
    """A NIfTI file's (first) volume as float32 X×Y×Z in canonical RAS and its voxel sizes.

    None when it was refused or unreadable (the reason is in ``out``); a 2-D file is one slice.
    Shared by image volumes and label volumes, so both are cut the same way.
    """
    try:
        volume, zooms, volumes = _nifti_volume(entry)
    except NiftiRefused as exc:
        out.skip(entry.item, str(exc))
        return None
    except Exception as exc:
        out.skip(entry.item, failure_reason(f"unreadable {what}", exc, entry))
        return None
    if volumes is not None:
        out.notes.append(f"{entry.item}: 4-D volume, only its first volume (of {volumes}) used")
    if volume.ndim == 2:
        volume = volume[:, :, None]
        zooms = zooms[:2] + [1.0]
    if volume.ndim != 3:
        out.skip(entry.item, f"NIfTI with {volume.ndim} dimensions; expected 2, 3 or 4")
        return None
    return volume, zooms


def slice_aspect(zooms: list[float], axis: int) -> float:
    """Width / height of one pixel of a slice along ``axis`` (1 when the header's sizes are damaged)."""
    in_plane = [zooms[i] for i in range(3) if i != axis]
    ratio = in_plane[0] / in_plane[1] if in_plane[1] > 0 else 1.0
    return ratio if np.isfinite(ratio) and ratio > 0 else 1.0  # a damaged pixdim (inf, NaN): square


def read_nifti(entry: FileEntry, opts: dict, out: ScanResult) -> None:
    """NIfTI: one volume -> its 2-D slices along ``nifti_axis``."""
    if (read := read_nifti_volume(entry, out)) is None:
        return
    volume, zooms = read
    if (reason := finite_check(volume)) is not None:
        finite = np.isfinite(volume)
        out.notes.append(f"{entry.item}: {reason}; those voxels set to the volume minimum")
        volume = np.where(finite, volume, volume[finite].min() if finite.any() else 0.0)
    if (reason := constant_check(volume)) is not None:
        out.skip(entry.item, reason)
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
    del volume
    axis = opts["nifti_axis"]
    aspect = slice_aspect(zooms, axis)
    dropped = 0
    for k in range(unit.shape[axis]):
        plane = np.take(unit, k, axis=axis)
        if (plane > 0.1).mean() < NEAR_EMPTY_FRACTION:
            dropped += 1
            continue
        # canonical RAS: show anterior / superior at the top
        out.add(entry, f"{entry.item} [slice {k}]", modality, unit_to_uint8(np.rot90(plane)), aspect)
    if dropped == unit.shape[axis]:  # nothing kept: say why, or the load would end without a reason
        out.skip(entry.item, f"every slice is near-empty (< {NEAR_EMPTY_FRACTION:.0%} foreground)")
        return
    if dropped:
        out.notes.append(
            f"{entry.item}: {dropped} near-empty slices (< {NEAR_EMPTY_FRACTION:.0%} foreground) dropped"
        )
        out.steps.add("near-empty NIfTI slices dropped")
    out.kinds[f"NIfTI volume ({modality})"] += 1


# --------------------------------------------------------------------------- geometry


def pad_to_square_and_resize(pixels: np.ndarray, image_size: int, aspect: float = 1.0, *,
                             nearest: bool = False) -> np.ndarray:
    """Pad with black to a square (centred), then resize with anti-aliasing (LANCZOS).

    ``nearest=True`` (label maps) resizes by nearest neighbour instead, with the same
    geometry, so every output value is one of the input's labels (never a blend).

    The padding canvas is max(w, h)² pixels. Up to ``MAX_CANVAS_RATIO`` times the image's
    own pixels it is made; beyond (a 2×20000 strip would need 400 megapixels) the image is
    resized straight to its place in the output and padded there, which looks the same
    and keeps the memory within :func:`memory_bound` of the image.
    """
    from PIL import Image

    img = Image.fromarray(pixels)
    # reducing_gap would first average blocks: never for labels
    method, gap = (Image.NEAREST, None) if nearest else (Image.LANCZOS, 3.0)
    w, h = img.size
    wide = max(1, round(w * aspect)) if abs(aspect - 1.0) > 0.01 else w  # rows = 2nd in-plane axis
    side = max(wide, h)
    if side * side > MAX_CANVAS_RATIO * w * h:
        scale = image_size / side
        size = (max(1, round(wide * scale)), max(1, round(h * scale)))
        small = img.resize(size, method, reducing_gap=gap)
        out = Image.new(img.mode, (image_size, image_size), 0)
        out.paste(small, ((image_size - size[0]) // 2, (image_size - size[1]) // 2))
        return np.asarray(out)
    if wide != w:  # stretch the width by the voxel aspect
        img = img.resize((wide, h), method)
    canvas = Image.new(img.mode, (side, side), 0)
    canvas.paste(img, ((side - wide) // 2, (side - h) // 2))
    return np.asarray(canvas.resize((image_size, image_size), method))
