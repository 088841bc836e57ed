"""``folder:PATH`` — a user's own images, recursively: walk, check, split by patient, load.

* Class = the first-level sub-folder name (no sub-folders -> no labels). Class
  names are the user's labels and are kept — after a check, in memory, against
  the patient names, IDs and birth dates in every DICOM header of the folder
  (NFKC, case-folded; ID digit runs alone): a class folder named after a patient
  is refused. A folder without DICOM headers has nothing to check them against:
  the report says so.
* Each regular file is read by :mod:`~medgan_helpers.data.readers` or
  :mod:`~medgan_helpers.data.dicom`; FIFOs, devices and sockets are skipped
  (never opened for reading), as are unreadable, constant, NaN and duplicate images.
* Names: the dataset is ``folder-<8 hex>`` and every file ``class/file-<12 hex>``
  (keyed hashes of their paths, :func:`medgan_helpers.data.privacy.opaque_id`).
  That is what the report, the card, the metadata and everything downstream
  (run configs, exports, feature caches, ``index.html``) see. The folder path and
  the file and sub-folder names stay in this process's memory: the report shows
  relative paths on screen (``report.with_paths()``), never in its saved form.
* Splits are by patient: files that share any key — DICOM PatientID, Study or
  Series Instance UID, patient sub-folder (below the class folder) — are one
  group (:mod:`~medgan_helpers.data.groups`; placeholder IDs such as
  ``ANONYMOUS`` are not keys). No group is in two splits; the card counts groups
  per split. Errors name the folder by its id, never by its path.
* Nothing is ever written into the folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers.data import cachefiles, dicom, groups, privacy
from medgan_helpers.data.imageset import (
    SPLITS,
    DataError,
    DatasetCard,
    ImageSet,
    LoadReport,
    LocalPaths,
    class_counts,
)
from medgan_helpers.data.readers import (
    FileEntry,
    ScanResult,
    file_kind,
    read_nifti,
    read_raster,
    resolve_window,
    special_kind,
    unit_to_uint8,
)

MODALITIES = ("auto", "MR", "CT", "XR", "US", "PT", "NM", "photo", "other")
COLORS = ("auto", "grey", "gray", "rgb")
MIN_SIZE, MAX_SIZE = 8, 1024
READERS = {"raster": read_raster, "dicom": dicom.read_dicom, "nifti": read_nifti}
#: ``folder-`` + 8 hex digits: the name of a loaded folder.
ID_PATTERN = re.compile(r"folder-[0-9a-f]{8}")
GROUP_RULE = groups.RULE
PRIVACY_NOTE = (
    "Privacy — stored (in this card, the load report, the metadata and whatever is made "
    "from them): the pixels (uint8, resized), the class names (first-level folder names, "
    "checked against the patient names, IDs and birth dates in the DICOM headers), an "
    "opaque id per file (class/file-<keyed hash of its path>), the dataset id, counts "
    "of images and groups per split, and the processing steps. Not stored: the folder "
    "path, file and sub-folder names (the live report can show relative paths on "
    "screen only), and every DICOM header value other than the display tags "
    "(modality, photometric interpretation, rescale, window); PatientName, PatientID, "
    "birth date and the study/series UIDs are read into memory only, for the class-name "
    "check and the per-patient split, and dropped after loading. Not checked: text "
    "burned into the pixels, and identifying content in non-DICOM files."
)
#: The last 4 folders read (train, val and test of one folder cost one read). Memory only.
_MEMO: cachefiles.RecentResults[dict] = cachefiles.RecentResults(keep=4)


def folder_id(root: Path) -> str:
    """The stable opaque id of a folder: ``folder-`` + 8 hex of a keyed hash of its path."""
    return privacy.opaque_id("folder", os.fsencode(root), length=8)


# --------------------------------------------------------------------------- walking


def walk(root: Path, opts: dict, out: ScanResult) -> tuple[list[tuple[FileEntry, str]], LocalPaths, Counter]:
    """Every image file under ``root`` as (entry, kind), the id -> path table, and what was found.

    Special, unreadable and non-image files are skipped (into ``out``) and never opened.
    """
    found = []  # (path, relative parts, kind or None, problem or None)
    real_root = os.path.realpath(root)
    seen_dirs = {real_root}
    # Links are followed, each real folder once (no loops), and only inside the data folder.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            path = Path(dirpath) / name
            problem = _link_problem(path, real_root, seen_dirs, folder=True)
            if problem:
                found.append((path, path.relative_to(root).parts, None, problem))
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(f for f in filenames if not f.startswith(".")):
            path = Path(dirpath) / name
            parts = path.relative_to(root).parts
            link_problem = _link_problem(path, real_root, seen_dirs, folder=False)
            if link_problem:
                found.append((path, parts, None, link_problem))
                continue
            try:
                kind_of_file = special_kind(os.stat(path).st_mode)
            except OSError as exc:
                found.append((path, parts, None, f"cannot be read ({type(exc).__name__}: a broken "
                              "link, or no permission)"))
                continue
            if kind_of_file is not None:
                found.append((path, parts, None, f"{kind_of_file}, not a regular file: never opened"))
                continue
            kind = file_kind(path)
            found.append((path, parts, kind, None if kind else
                          "not an image file (unknown extension and no DICM marker)"))
    what = Counter(
        kind or ("special file" if problem and "regular" in problem else path.suffix.lower() or "no extension")
        for path, _, kind, problem in found
    )
    labelled = opts["labels"] == "subfolder" and any(len(p) > 1 and k for _, p, k, _ in found)
    entries, local = [], LocalPaths()
    root_bytes = os.fsencode(root)
    for path, parts, kind, problem in found:
        label = privacy.printable(parts[0]) if labelled and len(parts) > 1 else None
        rel = "/".join(parts)
        file_id = privacy.opaque_id("file", root_bytes, os.fsencode(rel))
        local[file_id] = privacy.printable(rel)
        item = f"{label}/{file_id}" if label else file_id
        if problem is None and labelled and len(parts) == 1:
            problem = "not inside a class sub-folder (the other images are)"
        if problem is not None:
            out.skip(item, problem)
            continue
        # the patient sub-folder is named with its class: benign/001 and malignant/001 are two patients
        sub = "/".join(parts[:2]) if labelled and len(parts) >= 3 else parts[0] if not labelled and len(parts) >= 2 else None
        keys = [(groups.FILE, privacy.group_token(groups.FILE, rel))]
        if sub is not None:
            keys.insert(0, (groups.SUB_FOLDER, privacy.group_token(groups.SUB_FOLDER, sub)))
        entries.append((FileEntry(path, item, label, tuple(keys)), kind))
    return entries, local, what


def _link_problem(path: Path, real_root: str, seen_dirs: set[str], folder: bool) -> str | None:
    """Why a linked (or already read) file or folder is skipped, or None to read it.

    A link whose target lies outside the data folder is never read: the user named
    one folder, and data beside it may belong to someone else. A folder reached
    twice (a link loop, or a second link to the same folder) is read once.
    """
    real = os.path.realpath(path)
    if os.path.islink(path) and os.path.commonpath([real_root, real]) != real_root:
        what = "folder" if folder else "file"
        return f"a {what} link whose target is outside the data folder: not read (copy the data in instead)"
    if folder:
        if real in seen_dirs:
            return "a folder link to a folder that is already read (or a link loop): read once only"
        seen_dirs.add(real)
    return None


# --------------------------------------------------------------------------- splitting


def split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int] | None:
    """Groups per split (train, val, test) for ``n`` groups, or None when too few.

    Largest-remainder rounding; a split with fraction 0 gets none, every split with
    a positive fraction gets at least one. None when ``n`` is smaller than the
    number of splits with a positive fraction.
    """
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n < len(positive):
        return None
    raw = [f * n for f in fractions]
    counts = [int(np.floor(r)) for r in raw]
    for i in sorted(range(3), key=lambda i: -(raw[i] - counts[i]))[: n - sum(counts)]:
        counts[i] += 1
    for i in positive:
        if counts[i] == 0:
            donor = max(range(3), key=lambda j: counts[j])
            counts[donor] -= 1
            counts[i] += 1
    return counts[0], counts[1], counts[2]


def assign_splits(groups: list[str], labels: list, fractions, seed: int):
    """Split of every image, whole groups at a time, stratified by each group's main class.

    Returns (split per image, notes, groups per split). Deterministic for a seed.
    """
    composition: dict[str, Counter] = {}
    for group, label in zip(groups, labels):
        composition.setdefault(group, Counter())[label] += 1
    buckets: dict[Any, list[str]] = {}
    for group, counts in composition.items():
        main = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0]
        buckets.setdefault(main, []).append(group)
    assignment: dict[str, str] = {}
    notes = []
    for index, (label, members) in enumerate(sorted(buckets.items(), key=lambda kv: str(kv[0]))):
        members = sorted(members)
        counts = split_counts(len(members), fractions)
        name = label if label is not None else "(all)"
        if counts is None:
            target = SPLITS[int(np.argmax(fractions))]
            notes.append(f"class {name}: only {len(members)} group(s) (patients, sub-folders or "
                         f"files), all in {target} (a group never spans two splits)")
            assignment.update({g: target for g in members})
            continue
        order = np.random.default_rng([seed, index]).permutation(len(members))
        n_train, n_val, n_test = counts
        for rank, i in enumerate(order):
            assignment[members[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    per_split = Counter(assignment.values())
    return (np.array([assignment[g] for g in groups]), notes,
            {s: int(per_split.get(s, 0)) for s in SPLITS})


# --------------------------------------------------------------------------- preparing


def check_class_names(class_names: list[str], identities: privacy.Identities) -> None:
    for index, name in enumerate(class_names, start=1):
        keyword = identities.found_in(name)
        if keyword is not None:
            masked = name[:1] + "*" * max(0, len(name) - 1)
            raise DataError(
                f"Class folder {index} of {len(class_names)} in sorted order ('{masked}') contains "
                f"the {keyword} of a patient, as found in the DICOM headers (compared after Unicode "
                "NFKC normalisation and case folding; ID digit runs also alone). Class names are "
                "kept (in the dataset card, run configs and exports), so the kit refuses names "
                "that identify a patient. Rename that first-level folder to a label (e.g. "
                "'tumour', 'normal') — or pass labels=None — and load again."
            )


def _prepare(root: Path, image_size: int, seed: int, opts: dict) -> dict:
    """The whole folder read, checked and split (kept for the next split's load)."""
    key = _MEMO.key(root, image_size, seed, sorted(opts.items(), key=str))
    return _MEMO.get_or_make(key, lambda: _read(root, image_size, seed, opts))


def _read(root: Path, image_size: int, seed: int, opts: dict) -> dict:
    scan = ScanResult(image_size)
    entries, local_paths, found = walk(root, opts, scan)
    for entry, kind in entries:
        READERS[kind](entry, opts, scan)
    class_names = sorted({s.label for s in scan.slices if s.label is not None})
    check_class_names(class_names, scan.identities)
    if class_names and not len(scan.identities):
        scan.notes.append(
            "class names NOT checked for patient names or IDs: no DICOM header in this folder has "
            "any (PNG/JPEG/TIFF/BMP and NIfTI files carry none the kit reads) — make sure no class "
            "folder is named after a patient"
        )
    scan.identities = privacy.Identities()  # identifying values are dropped here
    if not scan.slices:
        what = ", ".join(f"{n} × {k}" for k, n in sorted(found.items())) or "no files at all"
        reasons = Counter(r.split(" (")[0] for _, r in scan.skipped)
        why = "; ".join(f"{n} × {r}" for r, n in reasons.most_common(5))
        raise DataError(
            f"No usable images in folder {folder_id(root)} (the folder you gave). Found: {what}."
            + (f" Skipped: {why}." if why else "")
            + " The kit reads PNG/JPEG/TIFF/BMP, DICOM (.dcm or files with the DICM marker) and "
            "NIfTI (.nii/.nii.gz), recursively; put images of each class in its own sub-folder."
        )
    colour_count = sum(s.pixels.ndim == 3 for s in scan.slices)
    use_rgb = opts["color"] == "rgb" or (opts["color"] == "auto" and colour_count > len(scan.slices) / 2)
    if use_rgb:
        scan.steps.add("kept in colour (RGB); greyscale images repeated into 3 channels")
    elif colour_count:
        scan.steps.add("colour images converted to greyscale (ITU-R 601 luma)")
    kept, seen = [], {}
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    for s in scan.slices:
        pix = s.pixels
        if use_rgb and pix.ndim == 2:
            pix = np.repeat(pix[..., None], 3, axis=2)
        elif not use_rgb and pix.ndim == 3:
            pix = unit_to_uint8(pix.astype(np.float32) @ luma / 255.0)
        pix = pix[..., None] if pix.ndim == 2 else pix
        digest = hashlib.sha1(pix.tobytes()).digest()
        if digest in seen:
            scan.skip(s.item, f"duplicate of {seen[digest]}")
            continue
        seen[digest] = s.item
        kept.append((s, pix))
    scan.steps.add(f"padded to a square with black, resized to {image_size}×{image_size} (LANCZOS anti-aliasing)")
    scan.steps.add("stored as uint8 0-255; scaled to [-1, 1] on use")
    labels = [s.label for s, _ in kept]
    grouping = groups.patient_groups([s for s, _ in kept])
    split_of, split_notes, per_split = assign_splits(grouping.groups, labels, opts["split_fractions"], seed)
    return {
        "pixels": np.stack([p for _, p in kept]),
        "labels": None if not class_names else np.array([class_names.index(x) for x in labels], np.int64),
        "class_names": class_names,
        "items": np.array([s.item for s, _ in kept]),
        "split": split_of,
        "skipped": list(scan.skipped),
        "notes": [*scan.notes, *grouping.notes],
        "kinds": Counter(scan.kinds),
        "steps": sorted(scan.steps),
        "split_notes": split_notes,
        "groups": per_split,
        "group_kinds": grouping.kinds,
        "modalities": Counter(s.modality for s, _ in kept),
        "local_paths": local_paths,
    }


# --------------------------------------------------------------------------- load


def check_options(color, modality, ct_window, mr_percentiles, nifti_axis, split_fractions, labels) -> dict:
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
    return {
        "color": "grey" if color == "gray" else color,
        "modality": modality,
        "modality_hint": None if modality == "auto" else modality,
        "ct_window": tuple(ct_window) if isinstance(ct_window, list) else ct_window,
        "mr_percentiles": (float(lo), float(hi)),
        "nifti_axis": int(nifti_axis),
        "split_fractions": tuple(float(f) for f in split_fractions),
        "labels": labels,
    }


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
) -> ImageSet:
    """Load one split of a folder as an ImageSet named ``folder-<id>`` (see the module docstring)."""
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
    given = dict(color=color, modality=modality, ct_window=ct_window, mr_percentiles=mr_percentiles,
                 nifti_axis=nifti_axis, split_fractions=split_fractions, labels=labels)
    opts = check_options(**given)
    name = folder_id(root)
    prep = _prepare(root, image_size, seed, opts)
    mask = prep["split"] == split
    if not mask.any():
        why = prep["split_notes"] or [f"split_fractions={opts['split_fractions']} give it no group"]
        raise DataError(
            f"The {split!r} split of {name} (the folder you gave) is empty: " + "; ".join(why)
            + ". Use split='train', change split_fractions, or add more patients / files "
            "(each group goes wholly to one split)."
        )
    return _imageset(name, prep, mask, split, image_size, seed, opts)


def _imageset(name: str, prep: dict, mask: np.ndarray, split: str, image_size: int, seed: int,
              opts: dict) -> ImageSet:
    names, all_labels = prep["class_names"], prep["labels"]
    counts = {
        s: class_counts(None if all_labels is None else all_labels[prep["split"] == s], names,
                        int((prep["split"] == s).sum()))
        for s in SPLITS
    }
    groups = prep["groups"]
    kinds = ", ".join(f"{n} × {k}" for k, n in sorted(prep["group_kinds"].items()))
    report = LoadReport(name, split, loaded=int(mask.sum()))
    report.skipped = list(prep["skipped"])
    report.notes = [
        "found: " + ", ".join(f"{n} × {k}" for k, n in sorted(prep["kinds"].items())),
        *prep["notes"],
        *prep["split_notes"],
        f"splits are by patient: {', '.join(f'{s} {groups[s]}' for s in SPLITS)} groups "
        f"({kinds}); no group is in two splits",
    ]
    report.set_local_paths(prep["local_paths"])
    modalities = ", ".join(f"{m} ({n} images)" for m, n in prep["modalities"].most_common())
    card = DatasetCard(
        name=name,
        source=f"a local folder, id {name} (a keyed hash of its path; the path is not stored; "
        "read only: nothing is written there)",
        modality=modalities,
        licence="your own data: make sure you may use it (consent, data-use agreement, licence)",
        description=(
            f"{len(prep['pixels'])} images from {sum(prep['kinds'].values())} files; "
            + (f"classes from sub-folders: {', '.join(names)}" if names else "no class sub-folders: unlabelled")
        ),
        image_size=image_size,
        channels=int(prep["pixels"].shape[-1]),
        class_names=names,
        counts=counts,
        preprocessing=list(prep["steps"]),
        notes=[
            PRIVACY_NOTE,
            f"split by patient with seed {seed}, fractions train/val/test = {opts['split_fractions']}: "
            f"groups per split {', '.join(f'{s} {groups[s]}' for s in SPLITS)}",
        ],
        groups=dict(groups),
        group_rule=f"{GROUP_RULE} (here: {kinds})",
    )
    return ImageSet(
        prep["pixels"][mask],
        None if all_labels is None else all_labels[mask],
        names,
        name=name,
        split=split,
        report=report,
        card=card,
        metadata={"item": prep["items"][mask]},
    )
