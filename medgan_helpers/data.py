"""Medical image sources -> :class:`ImageSet` -> ``tf.data``.

One entry point, :func:`load_dataset`, understands three kinds of source:

``"brain-mri"``
    The embedded default (no network): 2-D slices resampled from the MNI ICBM152
    2009a T1 template that ships inside ``nilearn``; 4 anatomical levels; sizes
    32, 64, 128; 2400 train / 400 val / 600 test images.
any MedMNIST 2D flag (``"pneumoniamnist"``, ``"dermamnist"``, …)
    Downloaded once (MD5-verified) into :func:`medgan_helpers.config.cache_dir`;
    sizes 28, 64, 128, 224; the official train/val/test splits.
``"folder:PATH"``
    Your own images, recursively: PNG/JPEG/TIFF/BMP, DICOM, NIfTI. Class = the
    first-level sub-folder name. Nothing is ever written into the folder.

Every source returns an :class:`ImageSet` whose pixels are stored compactly as
``uint8`` (memory-mapped for big MedMNIST files); ``images`` and
:func:`to_tf_dataset` turn them into float32 in [-1, 1] only when needed.

Labels are ``int64`` class ids of shape ``(N,)``, or ``None`` for an unlabelled
folder. ChestMNIST is multi-label: its labels are ``(N, 14)`` multi-hot ``int64``
and ``ImageSet.multi_label`` is True.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers import config
from medgan_helpers._folder import (  # noqa: F401  (public helpers, taught in notebook 01)
    CT_WINDOWS,
    pad_to_square_and_resize,
    percentile_clip,
    window,
)

SPLITS = ("train", "val", "test")
BRAIN_MRI = "brain-mri"
BRAIN_SIZES = (32, 64, 128)


class DataError(ValueError):
    """A problem with the data a user asked for (bad source, size, split or files)."""


# --------------------------------------------------------------------------- report / card


@dataclass
class LoadReport:
    """What a load produced: how many images were kept, what was skipped and why."""

    source: str
    split: str
    loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        """Record one skipped item (a file, a slice, a frame) with the reason."""
        self.skipped.append((str(item), str(reason)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "source": self.source,
            "split": self.split,
            "loaded": int(self.loaded),
            "skipped": [list(s) for s in self.skipped],
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [
            f"Load report for {self.source!r} ({self.split} split): "
            f"{self.loaded} images loaded, {len(self.skipped)} skipped."
        ]
        lines += [f"  note: {n}" for n in self.notes]
        shown = self.skipped[:20]
        for item, reason in shown:
            lines.append(f"  skipped {item}: {reason}")
        if len(self.skipped) > len(shown):
            lines.append(f"  … and {len(self.skipped) - len(shown)} more skipped items")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython
        printer.text(str(self))


@dataclass
class DatasetCard:
    """A dataset card: where the data comes from, its licence and what was done to it."""

    name: str
    source: str
    modality: str
    licence: str
    description: str
    image_size: int
    channels: int
    class_names: list[str]
    counts: dict[str, dict[str, int]]
    preprocessing: list[str]
    citation: str = ""
    notes: list[str] = field(default_factory=list)
    licence_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (safe to write into artifacts: no patient data)."""
        return {
            "name": self.name,
            "source": self.source,
            "modality": self.modality,
            "licence": self.licence,
            "licence_text": self.licence_text,
            "description": self.description,
            "image_size": self.image_size,
            "channels": self.channels,
            "class_names": list(self.class_names),
            "counts": {s: dict(c) for s, c in self.counts.items()},
            "preprocessing": list(self.preprocessing),
            "citation": self.citation,
            "notes": list(self.notes),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write the card as JSON to ``path`` and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def _count_rows(self) -> tuple[list[str], list[list[str]]]:
        splits = [s for s in SPLITS if s in self.counts]
        names = list(self.class_names) or ["(unlabelled)"]
        rows = []
        for name in names:
            rows.append([name] + [str(self.counts[s].get(name, 0)) for s in splits])
        rows.append(["total"] + [str(sum(self.counts[s].values())) for s in splits])
        return splits, rows

    def __str__(self) -> str:
        splits, rows = self._count_rows()
        width = max(len(r[0]) for r in rows)
        lines = [
            f"Dataset card: {self.name}",
            f"  source      : {self.source}",
            f"  modality    : {self.modality}",
            f"  licence     : {self.licence}",
            f"  images      : {self.image_size}x{self.image_size}, {self.channels} channel(s)",
            f"  description : {self.description}",
            "  counts:",
            "    " + "class".ljust(width) + "".join(s.rjust(8) for s in splits),
        ]
        for row in rows:
            lines.append("    " + row[0].ljust(width) + "".join(c.rjust(8) for c in row[1:]))
        lines.append("  preprocessing:")
        lines += [f"    - {p}" for p in self.preprocessing]
        lines += [f"  note: {n}" for n in self.notes]
        if self.citation:
            lines.append(f"  cite: {self.citation}")
        if self.licence_text:
            lines.append(f"  licence notice: {self.licence_text}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        splits, rows = self._count_rows()
        md = [
            f"### Dataset card: {self.name}",
            "",
            f"- **Source:** {self.source}",
            f"- **Modality:** {self.modality}",
            f"- **Licence:** {self.licence}",
            f"- **Images:** {self.image_size}×{self.image_size}, {self.channels} channel(s)",
            f"- **Description:** {self.description}",
            "",
            "| class | " + " | ".join(splits) + " |",
            "| --- | " + " | ".join("---:" for _ in splits) + " |",
        ]
        md += ["| " + " | ".join(r) + " |" for r in rows]
        md += ["", "**Preprocessing**", ""] + [f"1. {p}" for p in self.preprocessing]
        if self.notes:
            md += ["", "**Notes**", ""] + [f"- {n}" for n in self.notes]
        if self.citation:
            md += ["", f"**Cite:** {self.citation}"]
        if self.licence_text:
            md += ["", f"<small>{self.licence_text}</small>"]
        return "\n".join(md)


# --------------------------------------------------------------------------- ImageSet


class ImageSet:
    """One split of a dataset: compact uint8 pixels, labels, class names, report and card.

    ``pixels`` is uint8 N×H×W×C (possibly a read-only ``numpy.memmap``); ``images``
    converts it to float32 in [-1, 1] on access (use :meth:`batch_images` or
    :func:`to_tf_dataset` for very large sets). ``labels`` is int64 ``(N,)``, or
    ``(N, L)`` multi-hot for multi-label data (``multi_label`` is True), or None.
    """

    #: ``images`` refuses to materialise more float32 bytes than this.
    MAX_IMAGES_BYTES = 4 * 1024**3

    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray | None,
        class_names: Sequence[str],
        *,
        name: str,
        split: str,
        report: LoadReport,
        card: DatasetCard,
        metadata: dict[str, np.ndarray] | None = None,
        multi_label: bool = False,
    ) -> None:
        if pixels.dtype != np.uint8 or pixels.ndim != 4:
            raise ValueError(f"pixels must be uint8 N×H×W×C, got {pixels.dtype} {pixels.shape}")
        if labels is not None and len(labels) != len(pixels):
            raise ValueError(f"{len(labels)} labels for {len(pixels)} images")
        self.pixels = pixels
        self.labels = labels
        self.class_names = list(class_names)
        self.name = name
        self.split = split
        self.report = report
        self._card = card
        self.metadata = dict(metadata or {})
        self.multi_label = bool(multi_label)

    # shape facts
    @property
    def image_size(self) -> int:
        """Height (= width) of every image in pixels."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """1 for greyscale, 3 for colour."""
        return int(self.pixels.shape[3])

    @property
    def num_classes(self) -> int | None:
        """Number of classes (None when unlabelled)."""
        return len(self.class_names) if self.labels is not None else None

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def __repr__(self) -> str:
        labels = "no labels" if self.labels is None else f"{len(self.class_names)} classes"
        return (
            f"ImageSet({self.name!r}, split={self.split!r}, n={len(self)}, "
            f"size={self.image_size}, channels={self.channels}, {labels})"
        )

    # pixels -> [-1, 1]
    @staticmethod
    def to_float(pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels -> float32 in [-1, 1] (``p / 127.5 - 1``), without extra copies."""
        out = np.array(pixels, dtype=np.float32)
        out /= 127.5
        out -= 1.0
        return out

    @property
    def images(self) -> np.ndarray:
        """All images as float32 N×H×W×C in [-1, 1] (computed on each access)."""
        nbytes = int(np.prod(self.pixels.shape)) * 4
        if nbytes > self.MAX_IMAGES_BYTES:
            raise DataError(
                f"{self.name} ({self.split}) holds {len(self)} images: as float32 that is "
                f"{nbytes / 1024**3:.1f} GB. Use imageset.batch_images(indices) or "
                "data.to_tf_dataset(imageset), which convert lazily, or imageset.subset(...)."
            )
        return self.to_float(self.pixels)

    def batch_images(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 [-1, 1] images at ``indices`` (only those are converted)."""
        idx = np.asarray(indices, dtype=np.int64)
        return self.to_float(self.pixels[idx])

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """A new ImageSet holding only ``indices`` (pixels copied into memory)."""
        idx = np.asarray(indices, dtype=np.int64)
        report = LoadReport(
            self.report.source,
            self.split,
            loaded=len(idx),
            notes=[*self.report.notes, f"subset of {len(idx)} of {len(self)} images"],
        )
        return ImageSet(
            np.asarray(self.pixels[idx]),
            None if self.labels is None else np.asarray(self.labels[idx]),
            self.class_names,
            name=self.name,
            split=self.split,
            report=report,
            card=self._card,
            metadata={k: np.asarray(v)[idx] for k, v in self.metadata.items()},
            multi_label=self.multi_label,
        )

    def class_counts(self) -> dict[str, int]:
        """Images per class name (multi-label: images carrying each label)."""
        return _class_counts(self.labels, self.class_names, len(self))

    def card(self) -> DatasetCard:
        """The dataset card (source, licence, modality, counts, preprocessing)."""
        return self._card


def _class_counts(labels: np.ndarray | None, class_names: Sequence[str], n: int) -> dict[str, int]:
    if labels is None:
        return {"(unlabelled)": int(n)}
    labels = np.asarray(labels)
    if labels.ndim == 2:
        sums = labels.sum(axis=0)
        return {name: int(sums[i]) for i, name in enumerate(class_names)}
    counts = np.bincount(labels.astype(np.int64), minlength=len(class_names))
    return {name: int(counts[i]) for i, name in enumerate(class_names)}


# --------------------------------------------------------------------------- load_dataset


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)}.")


FOLDER_OPTIONS = (
    "color",
    "modality",
    "ct_window",
    "mr_percentiles",
    "nifti_axis",
    "split_fractions",
    "labels",
)
MEDMNIST_OPTIONS = ("download", "color")


def _check_options(source: str, options: dict, valid: Sequence[str]) -> None:
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise DataError(
            f"{source!r} does not take the option(s) {', '.join(unknown)}. "
            f"Valid options: {', '.join(valid)}."
        )


def available_sources() -> list[str]:
    """Every source name :func:`load_dataset` accepts (``folder:PATH`` shown as a pattern)."""
    from medgan_helpers import _medmnist

    return [BRAIN_MRI, *_medmnist.FLAGS, "folder:PATH"]


def load_dataset(
    source: str,
    image_size: int = 64,
    split: str = "train",
    *,
    seed: int = 0,
    **options: Any,
) -> ImageSet:
    """Load one split of a dataset as an :class:`ImageSet`.

    Args:
        source: ``"brain-mri"``, a MedMNIST 2D flag (e.g. ``"pneumoniamnist"``), or
            ``"folder:PATH"``.
        image_size: output height = width. brain-mri: 32/64/128; MedMNIST:
            28/64/128/224; folders: any size from 8 to 1024.
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: brain-mri: which random planes are sampled; folders: how files
            are assigned to splits. MedMNIST splits are fixed.
        **options: source-specific options.
            MedMNIST: ``download`` (default True), ``color`` (``"auto"``/``"grey"``).
            Folders: ``color`` (``"auto"``, ``"grey"``, ``"rgb"``), ``modality``
            (``"auto"``, ``"MR"``, ``"CT"``, ``"XR"``, …), ``ct_window`` (a preset
            name from ``CT_WINDOWS`` or ``(centre, width)``; default ``"auto"``:
            the file's own window, else soft-tissue), ``mr_percentiles`` (default
            ``(0.5, 99.5)``), ``nifti_axis`` (default 2 = axial),
            ``split_fractions`` (default ``(0.7, 0.15, 0.15)``).

    Raises:
        DataError: unknown source, unsupported size, bad split, or no usable images.
    """
    _check_split(split)
    if not isinstance(source, str):
        raise DataError(f"source must be a string, got {type(source).__name__}")
    if source == BRAIN_MRI:
        if options:
            raise DataError(f"brain-mri takes no extra options; got {sorted(options)}")
        return _load_brain(int(image_size), split, seed)
    if source.startswith("folder:"):
        from medgan_helpers import _folder

        _check_options(source, options, FOLDER_OPTIONS)
        return _folder.load(source[len("folder:") :], int(image_size), split, seed, **options)
    from medgan_helpers import _medmnist

    if source.lower() in _medmnist.FLAGS:
        _check_options(source, options, MEDMNIST_OPTIONS)
        return _medmnist.load(source.lower(), int(image_size), split, **options)
    hint = ""
    if source.lower().endswith("mnist3d") or source.lower() in _medmnist.FLAGS_3D:
        hint = " 3-D MedMNIST sets are not supported (this kit generates 2-D images)."
    raise DataError(
        f"Unknown dataset source {source!r}.{hint} Valid sources: "
        f"{', '.join(available_sources())} (e.g. 'folder:/path/to/scans')."
    )


def _load_brain(image_size: int, split: str, seed: int) -> ImageSet:
    from medgan_helpers import _brain

    if image_size not in BRAIN_SIZES:
        raise DataError(
            f"brain-mri has no image_size={image_size}. Valid sizes: "
            f"{', '.join(map(str, BRAIN_SIZES))}."
        )
    arrays, info = _brain.load(image_size, seed, config.cache_dir())
    names = _brain.CLASS_NAMES
    counts = {
        s: _class_counts(arrays[f"{s}_labels"], names, len(arrays[f"{s}_labels"])) for s in SPLITS
    }
    report = LoadReport(BRAIN_MRI, split, loaded=len(arrays[f"{split}_labels"]))
    if info["from_cache"]:
        report.notes.append("read from the cache")
    else:
        report.notes.append(f"built from the MNI152 template in {info['build_seconds']:.1f} s")
    report.notes.append(f"licence: {_brain.LICENCE}")
    card = DatasetCard(
        name=BRAIN_MRI,
        source=(
            "MNI ICBM152 2009a nonlinear symmetric T1 template, 1 mm (shipped inside the "
            "nilearn wheel: nilearn.datasets.load_mni152_template(resolution=1), 197×233×189)"
        ),
        modality="MR (T1-weighted, skull-stripped population average)",
        licence=_brain.LICENCE,
        licence_text=_brain.COPYRIGHT_NOTICE,
        description=(
            "Axial 2-D slices resampled from the average of 152 registered adult brain MRI "
            "scans. Real MRI, but smoother, more symmetric and less noisy than any single "
            "patient's scan; one 'brain' seen from many slightly different planes. Labels "
            "are the anatomical level of the slice."
        ),
        image_size=image_size,
        channels=1,
        class_names=list(names),
        counts=counts,
        preprocessing=[
            "template intensities divided by their 99.5th percentile inside the brain, clipped to [0, 1]",
            f"Gaussian anti-aliasing blur matched to the {200 / image_size:.2f} mm output pixel",
            "trilinear resampling of oblique planes: tilt ±4° (left-right axis), ±3° "
            "(front-back axis), in-plane rotation ±10°, zoom 0.93-1.07, shift ±4 mm; "
            f"field of view {_brain.FOV_MM:.0f} mm",
            "stored as uint8 0-255; scaled to [-1, 1] on use",
            "splits from disjoint blocks of axial slice positions with >= 3 mm guard gaps: "
            + "; ".join(
                f"{s}: " + ", ".join(f"{a:.1f}..{b:.1f}" for a, b in blocks) + " mm"
                for s, blocks in _brain.split_blocks().items()
            ),
        ],
        citation=_brain.CITATION,
        notes=[
            "level boundaries (MNI z, mm): "
            + ", ".join(f"{n}: {lo:g}..{hi:g}" for n, (lo, hi) in zip(names, _brain.LEVELS_MM)),
            "a population template: good for learning, not for clinical claims",
        ],
    )
    metadata = {
        k[len(split) + 1 :]: arrays[k]
        for k in arrays
        if k.startswith(f"{split}_") and k not in (f"{split}_pixels", f"{split}_labels")
    }
    return ImageSet(
        arrays[f"{split}_pixels"],
        arrays[f"{split}_labels"].astype(np.int64),
        names,
        name=BRAIN_MRI,
        split=split,
        report=report,
        card=card,
        metadata=metadata,
    )


# --------------------------------------------------------------------------- tf.data

#: Sets whose pixels are bigger than this are streamed batch by batch (from the memory
#: map when there is one) instead of being cached in memory.
STREAM_THRESHOLD_BYTES = 1024**3


def _file_row_reader(pixels: np.ndarray):
    """For a C-contiguous memory-mapped ``.npy``: read rows with ``os.pread`` instead.

    Reading through the memory map would leave every touched page mapped into this
    process (its RSS grows to the size of the file over an epoch); ``pread`` goes
    through the page cache only, so the process stays small. Returns None when the
    array is not a plain memory-mapped file (then the memory map is indexed).
    """
    import os

    filename = getattr(pixels, "filename", None)
    if not isinstance(pixels, np.memmap) or filename is None or not pixels.flags.c_contiguous:
        return None
    row = int(np.prod(pixels.shape[1:]))
    offset = int(pixels.offset)
    shape = pixels.shape[1:]

    def read_rows(idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), row), dtype=np.uint8)
        with open(filename, "rb") as fh:
            for j, i in enumerate(idx):
                out[j] = np.frombuffer(os.pread(fh.fileno(), row, offset + int(i) * row), np.uint8)
        return out.reshape(len(idx), *shape)

    try:  # make sure offset and layout are what we think (first and last image)
        ends = np.array([0, len(pixels) - 1])
        if not np.array_equal(read_rows(ends), np.asarray(pixels[ends])):
            return None
    except (OSError, ValueError):
        return None
    return read_rows


def to_tf_dataset(
    imageset: ImageSet,
    batch_size: int = 64,
    seed: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = True,
    *,
    include_labels: bool | None = None,
    cache: bool = True,
):
    """A ``tf.data.Dataset`` of float32 [-1, 1] image batches (and labels when present).

    The pipeline keeps uint8 pixels as long as possible: cache (uint8) -> shuffle
    (seeded, reshuffled every epoch, same order for the same seed) -> batch ->
    convert to float32 [-1, 1] -> prefetch(AUTOTUNE). Sets larger than
    ``STREAM_THRESHOLD_BYTES`` (1 GB of uint8) are streamed instead: shuffled
    indices are gathered batch by batch (with ``pread`` from a memory-mapped file),
    so RAM stays small; the order is the same kind of seeded shuffle.

    Yields ``images`` or ``(images, labels)``; labels are int64 (``(B,)`` or
    ``(B, L)`` multi-hot). ``include_labels=False`` drops them.
    """
    import tensorflow as tf

    if not isinstance(imageset, ImageSet):
        raise TypeError(f"to_tf_dataset needs an ImageSet, got {type(imageset).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(imageset)
    if n == 0:
        raise DataError(f"{imageset.name} ({imageset.split}) has no images to put in a tf.data pipeline")
    if drop_remainder and n < batch_size:
        raise DataError(
            f"{imageset.name} ({imageset.split}) has {n} images, fewer than batch_size="
            f"{batch_size}, and drop_remainder=True would leave no batch. Use a smaller "
            "batch_size or drop_remainder=False."
        )
    with_labels = imageset.labels is not None if include_labels is None else include_labels
    if with_labels and imageset.labels is None:
        raise DataError(f"{imageset.name} has no labels; use include_labels=False")
    labels = None if not with_labels else np.asarray(imageset.labels).astype(np.int64)
    shape = tuple(int(d) for d in imageset.pixels.shape[1:])

    def to_float(pix):
        return tf.cast(pix, tf.float32) / 127.5 - 1.0

    streamed = imageset.pixels.nbytes > STREAM_THRESHOLD_BYTES
    if not streamed:
        pixels = np.ascontiguousarray(imageset.pixels)
        ds = tf.data.Dataset.from_tensor_slices(pixels if labels is None else (pixels, labels))
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if labels is None:
            ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(
                lambda p, y: (to_float(p), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
            )
        return ds.prefetch(tf.data.AUTOTUNE)

    source = imageset.pixels
    read_rows = _file_row_reader(source)

    def gather(idx: np.ndarray) -> np.ndarray:
        order = np.argsort(idx)  # sequential reads, then restore the shuffled order
        out = np.empty((len(idx), *shape), dtype=np.uint8)
        out[order] = source[idx[order]] if read_rows is None else read_rows(idx[order])
        return out

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    label_tensor = None if labels is None else tf.constant(labels)

    def load_batch(idx):
        pix = tf.numpy_function(gather, [idx], tf.uint8)
        pix.set_shape((batch_size if drop_remainder else None, *shape))
        images = to_float(pix)
        if label_tensor is None:
            return images
        return images, tf.gather(label_tensor, idx)

    ds = ds.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
