"""``folder:PATH`` — a user's own images, recursively: walk, split and load as an ImageSet.

* Class = the first-level sub-folder name (no sub-folders -> no labels).
* Each file is read by :mod:`medgan_helpers.data.readers` (PNG/JPEG/TIFF/BMP,
  DICOM, NIfTI), normalised to suit its modality, padded to a square and resized.
* Bad files are skipped and listed in the report with the reason; splits keep
  every slice of one file together. Nothing is ever written into the folder.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers.data.imageset import (
    SPLITS,
    DataError,
    DatasetCard,
    ImageSet,
    LoadReport,
    class_counts,
)
from medgan_helpers.data.readers import (
    ScanResult,
    file_kind,
    pad_to_square_and_resize,
    read_dicom,
    read_nifti,
    read_raster,
    resolve_window,
    unit_to_uint8,
)

MODALITIES = ("auto", "MR", "CT", "XR", "US", "PT", "NM", "photo", "other")
COLORS = ("auto", "grey", "gray", "rgb")
MIN_SIZE, MAX_SIZE = 8, 1024
_MEMO: dict[tuple, Any] = {}


def _scan(root: Path, opts) -> ScanResult:
    out = ScanResult()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    has_subfolders = opts["labels"] == "subfolder" and any(
        len(p.relative_to(root).parts) > 1 and file_kind(p) for p in files
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        kind = file_kind(path)
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
        reader = {"raster": read_raster, "dicom": read_dicom, "nifti": read_nifti}[kind]
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
    if not scan.slices:
        found = Counter(
            (file_kind(p) or (p.suffix.lower() or "no extension")) for p in root.rglob("*") if p.is_file()
        )
        what = ", ".join(f"{n} × {k}" for k, n in sorted(found.items())) or "no files at all"
        reasons = Counter(r.split(" (")[0] for _, r in scan.skipped)
        why = "; ".join(f"{n} × {r}" for r, n in reasons.most_common(5))
        raise DataError(
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
            pix = unit_to_uint8(pix.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0)
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
    if not path:
        raise DataError("folder: needs a path, e.g. 'folder:/data/my_scans'.")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"Folder {root} does not exist. Check the path after 'folder:'.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder. Use 'folder:' with the folder that holds it.")
    root = root.resolve()
    if not MIN_SIZE <= image_size <= MAX_SIZE:
        raise DataError(f"image_size={image_size} is out of range for folders; use {MIN_SIZE}..{MAX_SIZE} (e.g. 64).")
    if color not in COLORS:
        raise DataError(f"color={color!r} is not valid. Valid choices: {', '.join(COLORS)}.")
    canonical = {m.lower(): m for m in MODALITIES}
    if str(modality).lower() not in canonical:
        raise DataError(f"modality={modality!r} is not valid. Valid choices: {', '.join(MODALITIES)}.")
    modality = canonical[str(modality).lower()]
    if nifti_axis not in (0, 1, 2):
        raise DataError(f"nifti_axis={nifti_axis} is not valid: use 0 (sagittal), 1 (coronal) or 2 (axial).")
    lo, hi = mr_percentiles
    if not 0 <= lo < hi <= 100:
        raise DataError(f"mr_percentiles={mr_percentiles} must satisfy 0 <= low < high <= 100.")
    if len(split_fractions) != 3 or abs(sum(split_fractions) - 1) > 1e-6 or min(split_fractions) < 0:
        raise DataError(f"split_fractions={split_fractions} must be 3 non-negative numbers summing to 1.")
    if labels not in ("subfolder", None):
        raise DataError(f"labels={labels!r} is not valid: use 'subfolder' or None.")
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
        raise DataError(
            f"The {split!r} split of folder {root} is empty: "
            + "; ".join(prep["split_notes"] or ["too few files"])
            + ". Use split='train', or add more files (each file goes wholly to one split)."
        )
    names = prep["class_names"]
    all_labels = prep["labels"]
    counts = {
        s: class_counts(
            None if all_labels is None else all_labels[prep["split"] == s], names, int((prep["split"] == s).sum())
        )
        for s in SPLITS
    }
    scan = prep["scan"]
    report = LoadReport(f"folder:{root}", split, loaded=int(mask.sum()))
    report.skipped = list(scan.skipped)
    report.notes = [
        "found: " + ", ".join(f"{n} × {k}" for k, n in sorted(scan.kinds.items())),
        *scan.notes,
        *prep["split_notes"],
        "splits are by file: all slices / frames of one file are in the same split",
    ]
    modalities = ", ".join(f"{m} ({n} images)" for m, n in prep["modalities"].most_common())
    card = DatasetCard(
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
    return ImageSet(
        prep["pixels"][mask],
        None if all_labels is None else all_labels[mask],
        names,
        name=f"folder:{root.name}",
        split=split,
        report=report,
        card=card,
        metadata={"item": prep["items"][mask]},
    )
