"""Reading one DICOM file of a ``folder:`` dataset, frame by frame.

Only the display tags are read, plus — in memory only, dropped after loading —
the values that say whose scan it is (to refuse class names that contain them;
from every DICOM header in the folder, images or not) and which patient, study
or series it belongs to (PatientID and the Study/Series Instance UIDs: the keys
:mod:`~medgan_helpers.data.groups` joins into patients; an ID such as
``ANONYMOUS`` is marked as a placeholder, not a key). Frames are decoded one at a time with pydicom's ``iter_pixels`` and
resized at once, so a multi-frame file needs about one frame's memory
(:func:`medgan_helpers.data.readers.memory_bound` of one frame).
Rescale slope/intercept -> Hounsfield units; CT windows; MONOCHROME1 inverted.
"""

from __future__ import annotations

import numpy as np

from medgan_helpers.data import privacy
from medgan_helpers.data.readers import (
    MAX_PAGE_PIXELS,
    FileEntry,
    ScanResult,
    constant_check,
    failure_reason,
    finite_check,
    open_regular,
    percentile_clip,
    resolve_window,
    unit_to_uint8,
    window,
)

#: DICOM tags read to display the pixels.
DICOM_TAGS = [
    "Modality", "PhotometricInterpretation", "SamplesPerPixel", "PlanarConfiguration",
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "NumberOfFrames", "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth",
    "PixelSpacing", "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
]  # fmt: skip
#: Everything read from a DICOM header: display tags, plus (in memory only) who and which series.
HEADER_TAGS = sorted({*DICOM_TAGS, *privacy.CHECKED_KEYWORDS, *privacy.GROUP_KEYWORDS})
#: A DICOM that pydicom cannot stream frame by frame is decoded whole only below this size.
MAX_WHOLE_DICOM_BYTES = 256 * 1024**2
GROUP_KINDS = {
    "PatientID": "DICOM PatientID",
    "StudyInstanceUID": "DICOM StudyInstanceUID",
    "SeriesInstanceUID": "DICOM SeriesInstanceUID",
}
#: The token of a key whose value names no one (``ANONYMOUS``): counted, never joined on.
PLACEHOLDER = "placeholder"


def _stored_window(ds) -> tuple[float, float] | None:
    """The file's first (centre, width) window, or None when it is absent, empty or not usable.

    A NaN or empty window (seen in damaged and fuzzed files) falls back to the preset
    instead of blanking every image or skipping the whole file.
    """
    import pydicom

    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    c, w = ds.WindowCenter, ds.WindowWidth
    c = c[0] if isinstance(c, pydicom.multival.MultiValue) and len(c) else c
    w = w[0] if isinstance(w, pydicom.multival.MultiValue) and len(w) else w
    try:
        centre, width = float(c), float(w)
    except (TypeError, ValueError):
        return None
    return (centre, width) if np.isfinite(centre) and np.isfinite(width) and width > 0 else None


def _dicom_header(entry: FileEntry, out: ScanResult) -> dict | None:
    """Display facts of one DICOM; identities and grouping keys go to memory only. None: skipped."""
    import pydicom

    with open_regular(entry.path) as fh:
        ds = pydicom.dcmread(fh, specific_tags=HEADER_TAGS, defer_size=1024, force=True)
    try:
        # every header counts for the class-name check, even one without an image (a report)
        for keyword in privacy.CHECKED_KEYWORDS:
            if keyword in ds and ds[keyword].value not in (None, ""):
                value = ds[keyword].value
                many = isinstance(value, (list, tuple, pydicom.multival.MultiValue))
                out.identities.add(keyword, [str(v) for v in value] if many else str(value))
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            out.skip(entry.item, "no pixel data found (a truncated file, or a DICOM without an "
                     "image such as a report)")
            return None
        keys = []
        for keyword in privacy.GROUP_KEYWORDS:
            value = str(ds.get(keyword, "") or "").strip()
            if value:
                placeholder = keyword == "PatientID" and privacy.is_placeholder(value)
                keys.append((GROUP_KINDS[keyword], PLACEHOLDER if placeholder else
                             privacy.group_token(keyword, value)))
        file_window = _stored_window(ds)
        meta = getattr(ds, "file_meta", None)
        syntax = meta.get("TransferSyntaxUID") if meta is not None else None
        if syntax is None:  # no file meta: tell pydicom what the dataset was read as
            implicit, little = ds.original_encoding
            syntax = ("1.2.840.10008.1.2" if implicit else
                      "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
        return {
            "modality": str(ds.get("Modality", "") or "OT").upper(),
            "photometric": str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper(),
            "frames": int(ds.get("NumberOfFrames", 1) or 1),
            "samples": int(ds.get("SamplesPerPixel", 1) or 1),
            "slope": float(ds.get("RescaleSlope", 1) or 1),
            "intercept": float(ds.get("RescaleIntercept", 0) or 0),
            "window": file_window,
            "bytes": int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0)
            * int(ds.get("NumberOfFrames", 1) or 1) * int(ds.get("SamplesPerPixel", 1) or 1)
            * max(1, int(ds.get("BitsAllocated", 8) or 8) // 8),
            "pixels": int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0),
            "syntax": str(syntax),
            "keys": tuple(keys),
        }
    finally:
        del ds  # the header object goes as soon as its facts are out


def _dicom_frames(entry: FileEntry, head: dict):
    """Yield the frames one at a time (pydicom's iter_pixels reads each from the file)."""
    import pydicom
    from pydicom.pixels import iter_pixels

    streamed = False
    try:
        with open_regular(entry.path) as fh:
            for frame in iter_pixels(fh, transfer_syntax_uid=head["syntax"]):
                streamed = True
                yield frame
        return
    except Exception:
        if streamed:
            raise
    if head["bytes"] > MAX_WHOLE_DICOM_BYTES:
        raise ValueError(
            f"cannot be decoded frame by frame, and decoding all {head['frames']} frames at "
            f"once would need {head['bytes'] / 1024**2:.0f} MB (limit "
            f"{MAX_WHOLE_DICOM_BYTES // 1024**2} MB)"
        )
    with open_regular(entry.path) as fh:  # odd files: decode whole (small enough)
        ds = pydicom.dcmread(fh, specific_tags=DICOM_TAGS, force=True)
        arr = np.asarray(ds.pixel_array)
        del ds
    yield from (arr if head["frames"] > 1 else arr[None])


def read_dicom(entry: FileEntry, opts: dict, out: ScanResult) -> None:
    """DICOM: each frame streamed, normalised for its modality and resized at once."""
    try:
        head = _dicom_header(entry, out)
    except Exception as exc:  # pydicom raises many types for broken files
        out.skip(entry.item, failure_reason("unreadable DICOM", exc, entry))
        return
    if head is None:
        return
    if head["pixels"] > MAX_PAGE_PIXELS:
        out.skip(entry.item, f"frames of {head['pixels'] // 10**6} megapixels are above the "
                 f"{MAX_PAGE_PIXELS // 10**6} megapixel limit (memory bound)")
        return
    modality = head["modality"] if opts["modality"] == "auto" else opts["modality"]
    frames, colour, photometric = head["frames"], head["samples"] == 3, head["photometric"]
    slope, intercept = head["slope"], head["intercept"]
    if not colour and (slope != 1 or intercept != 0):
        out.steps.add("DICOM rescale slope/intercept applied (CT -> Hounsfield units)")
    kept = 0
    try:
        for f_index, frame in enumerate(_dicom_frames(entry, head)):
            item = entry.item if frames == 1 else f"{entry.item} [frame {f_index}]"
            if not colour:
                frame = frame.astype(np.float32) * slope + intercept  # -> HU for CT
            kept += _keep_dicom_frame(entry, item, frame, modality, photometric, head, opts, out)
    except Exception as exc:
        out.skip(entry.item, failure_reason("unreadable DICOM pixel data", exc, entry))
        if not kept:
            return
    out.kinds[f"DICOM {modality}" + (f" ({frames} frames)" if frames > 1 else "")] += 1


def _keep_dicom_frame(entry, item, frame, modality, photometric, head, opts, out) -> int:
    colour = head["samples"] == 3
    if (reason := finite_check(frame)) or (reason := constant_check(frame)):
        out.skip(item, reason)
        return 0
    if colour:
        pixels = frame.astype(np.uint8) if frame.dtype == np.uint8 else unit_to_uint8(percentile_clip(frame))
    elif modality == "CT":
        (c, w), description = resolve_window(opts["ct_window"], head["window"])
        unit = window(frame, c, w)
        out.steps.add(f"CT windowing: {description}")
        if photometric == "MONOCHROME1":
            unit = 1.0 - unit
        pixels = unit_to_uint8(unit)
        if pixels.min() == pixels.max():
            out.skip(item, f"constant after windowing (all HU outside C={c:g} W={w:g})")
            return 0
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
    out.add(entry, item, modality, pixels, keys=head["keys"])
    return 1
