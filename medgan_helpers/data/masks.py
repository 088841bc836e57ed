"""Label maps (segmentation masks) as the B side of ``folder-pairs:PATH`` (``b_kind="mask"``).

A label map holds one whole number per pixel, the id of a class (0 = background).
It is read as it is stored: no percentile clip, no colour conversion, and it is
padded and resized by **nearest neighbour only** (``readers.pad_to_square_and_resize
(nearest=True)``), with exactly the geometry of its image, so every output value is
one of the stored labels, never a blend of two.

What is read:

* PNG / TIFF / BMP with one integer value per pixel (modes ``1``, ``L``, ``I;16``,
  ``I``, palette ``P`` — the palette index is the label — or a float TIFF holding
  whole numbers); a colour image whose channels differ is refused (colours are
  not labels). JPEG is refused: its compression invents values at every edge.
* NIfTI volumes (whole numbers), cut into slices along ``nifti_axis`` exactly as
  their image volume is (canonical RAS, the same rotation), so slice ``k`` of the
  mask belongs with slice ``k`` of the image.
* DICOM is not read as a mask (a DICOM SEG object is not a pixel image):
  save the labels as PNG or NIfTI.

A mask that does not fit its image is named in the load report with the problem
and the fix, and its pair is left out: another size or shape than its image,
values that are not whole numbers, or labels outside ``mask_labels``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from medgan_helpers.data.imageset import DataError
from medgan_helpers.data.readers import (
    FileEntry,
    ScanResult,
    Slice,
    failure_reason,
    finite_check,
    open_regular,
    pad_to_square_and_resize,
    read_nifti_volume,
    slice_aspect,
)

#: What ``folder-pairs`` B/ holds: target images (default) or label maps.
B_KINDS = ("image", "mask")
#: Label ids are stored as uint8 (0-255).
MAX_LABEL = 255
STEP = ("label maps (B/): read as stored, padded and resized by nearest neighbour only "
        "(never interpolated), so every value is a label id")


def check_b_kind(b_kind: str, mask_labels: Sequence[str] | None) -> tuple[str, ...] | None:
    """Validate the ``b_kind`` / ``mask_labels`` options; returns the label names (or None)."""
    if b_kind not in B_KINDS:
        raise DataError(f"b_kind={b_kind!r} is not known: use 'image' (B/ holds target images) or "
                        "'mask' (B/ holds label maps: integer PNG or NIfTI, one class id per pixel).")
    if mask_labels is None:
        return None
    if b_kind != "mask":
        raise DataError("mask_labels names the values of label maps: it needs b_kind='mask'.")
    if isinstance(mask_labels, str) or not all(isinstance(n, str) and n for n in mask_labels):
        raise DataError(f"mask_labels={mask_labels!r} must be a sequence of names, one per label value "
                        "starting at 0, e.g. ('background', 'lesion').")
    if not 2 <= len(mask_labels) <= MAX_LABEL + 1:
        raise DataError(f"mask_labels has {len(mask_labels)} names: a label map needs 2 to {MAX_LABEL + 1} "
                        "(value 0 = the first name, usually 'background').")
    return tuple(mask_labels)


def label_problem(values: np.ndarray, mask_labels: tuple[str, ...] | None) -> str | None:
    """Why ``values`` is not a valid label map (problem + fix), or None."""
    if (reason := finite_check(values)) is not None:
        return f"{reason}: a label map holds class ids; save it without NaN"
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        bad = values[values != np.round(values)]
        return (f"non-integer values (e.g. {float(bad[0]):g}): a label map holds whole class ids; it was "
                "probably resized or smoothed as an image — save the labels with nearest-neighbour "
                "resampling, as an integer PNG or NIfTI")
    found = np.unique(values)
    top = len(mask_labels) - 1 if mask_labels else MAX_LABEL
    unknown = found[(found < 0) | (found > top)]
    if unknown.size:
        shown = ", ".join(f"{v:g}" for v in unknown[:5]) + (" …" if unknown.size > 5 else "")
        known = (f"0..{top} ({', '.join(mask_labels)})" if mask_labels else f"0..{MAX_LABEL}")
        hint = " (a 0/255 mask: divide it by 255)" if mask_labels and 255 in unknown else ""
        return (f"unknown label values {shown}; known: {known}. Fix: store each pixel's class id"
                f"{hint}, or pass mask_labels naming every value")
    return None


def _keep(entry: FileEntry, item: str, values: np.ndarray, labels: tuple[str, ...] | None,
          out: ScanResult, aspect: float = 1.0) -> None:
    if (reason := label_problem(values, labels)) is not None:
        out.skip(item, reason)
        return
    small = pad_to_square_and_resize(values.astype(np.uint8), out.image_size, aspect, nearest=True)
    out.slices.append(Slice(item, entry.keys, entry.label, "label map", small, values.shape[:2]))


def read_raster_mask(entry: FileEntry, labels: tuple[str, ...] | None, out: ScanResult) -> None:
    """One single-page PNG / TIFF / BMP label map."""
    from PIL import Image

    if entry.path.suffix.lower() in (".jpg", ".jpeg"):
        out.skip(entry.item, "a JPEG label map: lossy compression changes the labels at every edge. "
                 "Save the mask as PNG (or NIfTI)")
        return
    try:
        with open_regular(entry.path) as fh, Image.open(fh) as img:
            if int(getattr(img, "n_frames", 1) or 1) > 1:
                out.skip(entry.item, "a multi-page label map: save one mask per image (or a NIfTI volume)")
                return
            img.load()
            values = np.asarray(img)
    except Exception as exc:
        out.skip(entry.item, failure_reason("unreadable or truncated label map", exc, entry))
        return
    if values.ndim == 3:
        if not all(np.array_equal(values[..., 0], values[..., c]) for c in range(1, min(values.shape[2], 3))):
            out.skip(entry.item, "a colour image, not a label map: save one class id per pixel "
                     "(a greyscale, 16-bit or palette PNG)")
            return
        values = values[..., 0]
    out.kinds["label map (PNG/TIFF/BMP)"] += 1
    _keep(entry, entry.item, values.astype(np.float64) if values.dtype.kind == "f" else values.astype(np.int64),
          labels, out)


def read_nifti_mask(entry: FileEntry, labels: tuple[str, ...] | None, axis: int, out: ScanResult) -> None:
    """A NIfTI label volume -> its slices along ``axis``, cut exactly as ``readers.read_nifti`` cuts images."""
    if (read := read_nifti_volume(entry, out, "NIfTI label map")) is None:
        return
    volume, zooms = read
    if (reason := label_problem(volume, labels)) is not None:
        out.skip(entry.item, reason)
        return
    aspect = slice_aspect(zooms, axis)
    for k in range(volume.shape[axis]):
        plane = np.rot90(np.take(volume, k, axis=axis))
        _keep(entry, f"{entry.item} [slice {k}]", plane, labels, out, aspect)
    out.kinds["label map (NIfTI)"] += 1


def read_masks(entries: list[tuple[FileEntry, str]], labels: tuple[str, ...] | None, opts: dict,
               out: ScanResult) -> None:
    """Read every file of B/ as a label map (the kinds come from ``folder.walk``)."""
    for entry, kind in entries:
        if kind == "raster":
            read_raster_mask(entry, labels, out)
        elif kind == "nifti":
            read_nifti_mask(entry, labels, opts["nifti_axis"], out)
        else:
            out.skip(entry.item, "a DICOM file as a label map: DICOM masks (SEG) are not read; save "
                     "the labels as an integer PNG or NIfTI")


def pair_problem(image: Slice, mask: Slice) -> str | None:
    """Why ``mask`` does not fit ``image`` (problem + fix), or None."""
    if image.shape and mask.shape and tuple(image.shape) != tuple(mask.shape):
        return (f"the label map is {mask.shape[0]}×{mask.shape[1]} px but its image is "
                f"{image.shape[0]}×{image.shape[1]}: a mask must lie on its image's pixel grid. Fix: "
                "save the mask at the image's size (no cropping or resizing), or remove the pair")
    return None


def unused_slices(keys_a: dict, keys_b: dict) -> tuple[set[str], list[str]]:
    """Mask slices whose image slice was dropped (near-empty NIfTI slices): their keys, one note per file.

    They are not errors (a label volume is cut whole, its image's empty slices are not), so
    they are noted, not listed as unmatched.
    """
    bases_a = {name.split(" [", 1)[0] for name in keys_a}
    spare = {name for name in keys_b if name not in keys_a and " [slice " in name
             and name.split(" [", 1)[0] in bases_a}
    per_file = Counter(keys_b[name][0].item.split(" [", 1)[0] for name in spare)
    return spare, [f"B/{item}: {count} label-map slices not used (their image slices were near-empty, dropped)"
                   for item, count in sorted(per_file.items())]


def label_names(labels: tuple[str, ...] | None, masks: np.ndarray) -> tuple[str, ...]:
    """The names of the label values: ``mask_labels``, else ``label 0`` … up to the largest value found."""
    if labels:
        return labels
    return tuple(f"label {v}" for v in range(int(masks.max()) + 1 if masks.size else 1))


def resize_masks(masks: np.ndarray, image_size: int) -> np.ndarray:
    """Integer label maps N×H×W -> N×S×S by nearest neighbour (values stay labels, never blended)."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be N×H×W label maps, got shape {masks.shape}.")
    if masks.dtype.kind not in "ui" or (masks.size and (masks.min() < 0 or masks.max() > MAX_LABEL)):
        raise ValueError(f"masks must hold integer labels 0..{MAX_LABEL}, got {masks.dtype}.")
    out = [pad_to_square_and_resize(m.astype(np.uint8), image_size, nearest=True) for m in masks]
    return np.stack(out).astype(masks.dtype) if out else np.zeros((0, image_size, image_size), masks.dtype)
