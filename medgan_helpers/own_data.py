"""Curating your own scans for training (notebook 07).

- :func:`keep_classes` drops classes too small to learn from;
- :func:`restrict_to_classes` gives the val and test splits the classes training kept;
- :func:`suggest_settings` scales the training knobs to the size of the data.

The privacy audit notebook 07 runs on them lives in
:mod:`medgan_helpers.privacy_audit`; its functions are re-exported here
(``own_data.privacy_scan``, ``own_data.patient_identifiers``,
``own_data.identifying_fields``), so the notebook's calls stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medgan_helpers import data
from medgan_helpers.privacy_audit import (
    IDENTIFYING_KEYWORDS,
    PrivacyScan,
    identifying_fields,
    patient_identifiers,
    privacy_scan,
)

__all__ = [
    "IDENTIFYING_KEYWORDS",
    "PrivacyScan",
    "Settings",
    "identifying_fields",
    "keep_classes",
    "patient_identifiers",
    "privacy_scan",
    "restrict_to_classes",
    "suggest_settings",
]


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


#: generator steps :func:`suggest_settings` aims at, per preset (``config.preset()``)
TARGET_STEPS = {"full": 2500, "lab": 1200, "quick": 60}


def suggest_settings(n_train: int, quick: bool = False, preset: str | None = None) -> Settings:
    """Training settings for ``n_train`` images: smaller batches and nets for small data.

    Aims at about 2,500 generator steps (``preset="lab"``, the main job: 1,200;
    quick mode: 60) — about what the kit's default recipe
    (``training.default_config()``) takes to draw recognisable brain-mri slices —
    with the recipe's adaptive augmentation (ADA) guarding small sets against D
    overfitting. ``preset`` wins over ``quick`` when given. ``base_filters`` is the
    width of G and D (the ``g_base_filters`` / ``d_base_filters`` knobs of ``training.train``).
    """
    if preset is None:
        preset = "quick" if quick else "full"
    if preset not in TARGET_STEPS:
        raise ValueError(f"unknown preset {preset!r}; use one of {sorted(TARGET_STEPS)}.")
    if n_train < 8:
        raise ValueError(
            f"{n_train} training images are too few to train a GAN; bring at least a few "
            "dozen (a few hundred or more is better)."
        )
    batch_size = int(min(64, max(8, 2 ** int(np.log2(max(n_train // 8, 8))))))
    steps_per_epoch = max(1, n_train // batch_size)
    target = TARGET_STEPS[preset]
    epochs = int(max(1, min(400, round(target / steps_per_epoch))))
    base_filters = 16 if n_train >= 300 else 12
    size = "small" if n_train < 300 else "medium" if n_train < 2000 else "large"
    return Settings(
        epochs=epochs,
        batch_size=batch_size,
        base_filters=base_filters,
        steps=epochs * steps_per_epoch,
        reason=f"{n_train} training images is a {size} set"
        + {"full": "", "lab": " (lab preset: fewer steps)", "quick": " (quick mode)"}[preset],
    )


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
    report = imageset.report.derived(len(idx), note)  # the on-screen paths (memory only) carry over
    return data.ImageSet(
        np.asarray(imageset.pixels[idx]),
        mapping[imageset.labels[idx]],
        list(class_names),
        name=imageset.name,
        split=imageset.split,
        report=report,
        card=imageset.card(),
        metadata={k: np.asarray(v)[idx] for k, v in imageset.metadata.items()},
        handle=imageset.handle,
    )
