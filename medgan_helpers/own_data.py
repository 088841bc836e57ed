"""Helpers for pointing the kit at your own scans (notebook 07).

- :func:`keep_classes` drops classes too small to learn from;
- :func:`suggest_settings` scales the training knobs to the size of the data;
- :func:`privacy_scan` searches what the kit keeps and writes (the loaded
  dataset's report, card and metadata, the dataset cache, the artifacts) for
  strings that identify a patient — a check you can run, not a promise to trust.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan_helpers import config, data


def keep_classes(imageset: data.ImageSet, min_images: int) -> data.ImageSet:
    """A copy of ``imageset`` without the classes that have fewer than ``min_images`` images.

    Labels are renumbered 0..K-1 in the order of the kept class names. The
    dropped classes are recorded in the report's notes.
    """
    if imageset.labels is None:
        return imageset
    if imageset.multi_label:
        raise ValueError(
            f"keep_classes works on single-label data; {imageset.name} is multi-label."
        )
    counts = imageset.class_counts()
    kept = [name for name in imageset.class_names if counts[name] >= min_images]
    if not kept:
        raise data.DataError(
            f"No class of {imageset.name} has {min_images} or more images "
            f"(counts: {counts}). Lower MIN_IMAGES_PER_CLASS or add images."
        )
    dropped = [f"{name} ({counts[name]})" for name in imageset.class_names if name not in kept]
    note = f"dropped classes with < {min_images} images: {', '.join(dropped)}" if dropped else None
    return restrict_to_classes(imageset, kept, note=note)


@dataclass
class Settings:
    """Training knobs scaled to the data (see :func:`suggest_settings`)."""

    epochs: int
    batch_size: int
    base_filters: int
    steps: int
    reason: str

    def __str__(self) -> str:
        return (
            f"epochs={self.epochs}, batch_size={self.batch_size}, "
            f"base_filters={self.base_filters} (~{self.steps} steps): {self.reason}"
        )


def suggest_settings(n_train: int, quick: bool | None = None) -> Settings:
    """Training settings for ``n_train`` images: smaller batches and nets for small data.

    Aims at about 2,500 generator steps (60 in quick mode) — about what the
    kit's default recipe (``training.default_config()``) takes to draw
    recognisable brain-mri slices — with DiffAugment guarding small sets against
    D overfitting. ``base_filters`` is the width of G and D (the
    ``g_base_filters`` / ``d_base_filters`` knobs of ``training.train``).
    """
    if n_train < 8:
        raise ValueError(
            f"{n_train} training images are too few to train a GAN; bring at least a few "
            "dozen (a few hundred or more is better)."
        )
    quick = config.is_quick() if quick is None else quick
    batch_size = int(min(64, max(8, 2 ** int(np.log2(max(n_train // 8, 8))))))
    steps_per_epoch = max(1, n_train // batch_size)
    target = 60 if quick else 2500
    epochs = int(max(1, min(400, round(target / steps_per_epoch))))
    base_filters = 16 if n_train >= 300 else 12
    size = "small" if n_train < 300 else "medium" if n_train < 2000 else "large"
    return Settings(
        epochs=epochs,
        batch_size=batch_size,
        base_filters=base_filters,
        steps=epochs * steps_per_epoch,
        reason=f"{n_train} training images is a {size} set"
        + (" (quick mode)" if quick else ""),
    )


@dataclass
class PrivacyScan:
    """Where (if anywhere) the searched strings were found."""

    needles: list[str]
    searched: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found

    def __str__(self) -> str:
        head = f"Searched {len(self.searched)} places for {', '.join(map(repr, self.needles))}: "
        if self.clean:
            return head + "no trace found."
        return head + "FOUND in " + "; ".join(self.found)


def _variants(needle: str) -> list[bytes]:
    out = {needle, needle.replace("^", " "), needle.replace("^", ", ")}
    return [v.encode() for v in out if v] + [v.encode("utf-16-le") for v in out if v]


def privacy_scan(
    needles: list[str],
    imagesets: list[data.ImageSet] = (),
    folders: list[str | Path] = (),
) -> PrivacyScan:
    """Search loaded datasets and the files under ``folders`` for identifying strings.

    Args:
        needles: strings that would identify a patient (e.g. the PatientName
            and PatientID of your files).
        imagesets: loaded datasets; their report, card and metadata are searched.
        folders: folders whose files are searched byte-wise (default none; pass
            ``config.cache_dir()`` and ``config.artifacts_dir()``).
    """
    scan = PrivacyScan(list(needles))
    patterns = [v for n in needles for v in _variants(n)]

    def check(label: str, blob: bytes) -> None:
        scan.searched.append(label)
        if any(p.lower() in blob.lower() for p in patterns):
            scan.found.append(label)

    for ds in imagesets:
        check(f"{ds.name}/{ds.split} load report", str(ds.report).encode())
        check(f"{ds.name}/{ds.split} dataset card",
              json.dumps(ds.card().to_dict(), default=str).encode())
        for key, values in ds.metadata.items():
            check(f"{ds.name}/{ds.split} metadata[{key}]",
                  "\n".join(map(str, np.asarray(values).ravel().tolist())).encode())
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and path.stat().st_size < 512 * 1024**2:
                check(str(path), path.read_bytes())
    return scan


#: DICOM keywords that identify a patient or an encounter (a subset of the DICOM
#: PS3.15 basic confidentiality profile); the kit reads pixels, never keeps these.
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientAddress",
    "OtherPatientIDs", "OtherPatientNames", "PatientTelephoneNumbers",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime",
    "AccessionNumber", "InstitutionName", "InstitutionAddress",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "StudyID",
)


def identifying_fields(path: str | Path) -> list[str]:
    """Names (never values) of the identifying DICOM fields present in one file."""
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    present = [k for k in IDENTIFYING_KEYWORDS if str(header.get(k, "") or "").strip()]
    del header  # the values go out of scope here; nothing is returned but the names
    return present


def restrict_to_classes(
    imageset: data.ImageSet, class_names: list[str], note: str | None = None
) -> data.ImageSet:
    """Only the images of ``class_names``, labels renumbered in that order.

    Use it to give the val and test splits the classes that training kept.
    ``note`` is added to the copy's load report.
    """
    if imageset.labels is None:
        return imageset
    unknown = [n for n in class_names if n not in imageset.class_names]
    if unknown:
        raise ValueError(
            f"{unknown} are not classes of {imageset.name} ({imageset.split}); "
            f"its classes are {imageset.class_names}."
        )
    mapping = np.full(len(imageset.class_names), -1, np.int64)
    for new, name in enumerate(class_names):
        mapping[imageset.class_names.index(name)] = new
    idx = np.flatnonzero(mapping[imageset.labels] >= 0)
    old = imageset.report
    report = data.LoadReport(
        old.source, old.split, loaded=len(idx), skipped=list(old.skipped),
        notes=[*old.notes] + ([note] if note else []),
    )
    return data.ImageSet(
        np.asarray(imageset.pixels[idx]),
        mapping[imageset.labels[idx]],
        list(class_names),
        name=imageset.name,
        split=imageset.split,
        report=report,
        card=imageset.card(),
        metadata={k: np.asarray(v)[idx] for k, v in imageset.metadata.items()},
    )
