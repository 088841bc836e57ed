"""The data types every source returns, and the one [-1, 1] <-> uint8 conversion.

- :class:`ImageSet`: one split of a dataset (compact uint8 pixels, labels, class
  names, :class:`LoadReport`, :class:`DatasetCard`);
- :class:`DataError`: a problem with the data a user asked for;
- :func:`to_float` / :func:`to_uint8`: uint8 0..255 <-> float32 in [-1, 1], the
  only place in the package where that mapping is written down.

This module imports nothing else from the kit, so every source module
(``brain``, ``medmnist``, ``folder``) and the ``tf.data`` pipeline can import it
without an import cycle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """A problem with the data a user asked for (bad source, size, split or files)."""


# --------------------------------------------------------------------------- report / card


class LocalPaths(dict):
    """File id -> path relative to the loaded folder, for the screen only.

    Lives in memory: it is never part of ``to_dict``, JSON, a card or a cache, and
    a pickle or copy of it is empty.
    """

    def __reduce__(self):
        return (LocalPaths, ())

    def __repr__(self) -> str:
        return f"<LocalPaths: {len(self)} relative paths, in memory only>"


@dataclass
class LoadReport:
    """What a load produced: how many images were kept, what was skipped and why.

    Items (in ``skipped`` and ``metadata["item"]``) name files the way everything
    the kit stores does: ``class/file-<id>`` plus ``[frame k]``, ``[page k]`` or
    ``[slice k]``, never by path. For a ``folder:`` load the report also holds, in
    memory only, each id's path relative to the folder: :meth:`with_paths` and
    :meth:`local_path` show them on screen; they are never saved or pickled.
    """

    source: str
    split: str
    loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._local_paths = LocalPaths()

    def skip(self, item: str, reason: str) -> None:
        """Record one skipped item (a file, a slice, a frame) with the reason."""
        self.skipped.append((str(item), str(reason)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (every skipped item; no paths)."""
        return {
            "source": self.source,
            "split": self.split,
            "loaded": int(self.loaded),
            "skipped": [list(s) for s in self.skipped],
            "notes": list(self.notes),
        }

    def __getstate__(self) -> dict[str, Any]:  # pickles never carry the local paths
        state = dict(self.__dict__)
        state.pop("_local_paths", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local_paths = LocalPaths()

    def set_local_paths(self, paths: dict[str, str]) -> None:
        """Attach the in-memory id -> relative path table (the folder loader does)."""
        self._local_paths = LocalPaths(paths)

    def derived(self, loaded: int, note: str | None = None, *, skipped: bool = True) -> LoadReport:
        """The report of a copy of this set holding ``loaded`` images (a subset, fewer classes).

        Same source, split and notes (plus ``note``), the skipped items unless
        ``skipped=False``; the in-memory relative paths carry over (same session).
        """
        report = LoadReport(self.source, self.split, loaded=int(loaded),
                            skipped=list(self.skipped) if skipped else [],
                            notes=[*self.notes, *([note] if note else [])])
        report._local_paths = self._local_paths
        return report

    def local_path(self, item: str) -> str | None:
        """The path (relative to the folder) of ``item``, if this session loaded it; else None."""
        base = str(item).split(" [", 1)[0].rsplit("/", 1)[-1]
        return self._local_paths.get(base)

    def _lines(self, limit: int | None, paths: bool) -> list[str]:
        lines = [
            f"Load report for {self.source!r} ({self.split} split): "
            f"{self.loaded} images loaded, {len(self.skipped)} skipped."
        ]
        lines += [f"  note: {n}" for n in self.notes]
        shown = self.skipped if limit is None else self.skipped[:limit]
        for item, reason in shown:
            where = self.local_path(item) if paths else None
            lines.append(f"  skipped {item}" + (f" ({where})" if where else "") + f": {reason}")
        if len(self.skipped) > len(shown):
            lines.append(
                f"  … and {len(self.skipped) - len(shown)} more skipped items "
                "(all of them: report.skipped)"
            )
        return lines

    def with_paths(self, limit: int | None = None) -> str:
        """The report with each skipped file's relative path — for this screen only.

        The paths come from memory; they are not in the report's saved form, the
        card, the caches or any file the kit writes. (A notebook you save keeps
        what its cells printed: clear this output before sharing the notebook.)
        """
        if not self._local_paths:
            return "\n".join(self._lines(limit, paths=False))
        head = (
            "Relative paths are shown on this screen only: the kit never saves them "
            "(saved reports, cards, runs and exports name files by id + class)."
        )
        return "\n".join([head, *self._lines(limit, paths=True)])

    def __str__(self) -> str:
        lines = self._lines(20, paths=False)
        if self._local_paths:
            lines.append(
                "  files are named by class + opaque id; report.with_paths() shows their "
                "relative paths on screen (never saved)"
            )
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
    #: Groups (patients, studies, series, sub-folders or files) per split, when the
    #: source splits by group (``folder:``); ``group_rule`` says what a group is.
    groups: dict[str, int] = field(default_factory=dict)
    group_rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (what the card says, and nothing more: see its notes)."""
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
            "groups": {s: int(n) for s, n in self.groups.items()},
            "group_rule": self.group_rule,
        }

    def to_json(self, path: str | Path) -> Path:
        """Write the card as JSON to ``path`` (atomically: temporary file + ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def _count_rows(self) -> tuple[list[str], list[list[str]]]:
        splits = [s for s in SPLITS if s in self.counts]
        names = list(self.class_names) or ["(unlabelled)"]
        rows = []
        for name in names:
            rows.append([name] + [str(self.counts[s].get(name, 0)) for s in splits])
        rows.append(["total"] + [str(sum(self.counts[s].values())) for s in splits])
        if self.groups:
            rows.append(["groups"] + [str(self.groups.get(s, 0)) for s in splits])
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
        if self.group_rule:
            lines.append(f"  groups      : {self.group_rule}")
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
        if self.group_rule:
            md += ["", f"**Groups:** {self.group_rule}"]
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
    ``handle`` (a :class:`~medgan_helpers.data.handle.DatasetHandle`, typed ``Any``
    here because this module imports nothing from the kit) loads the dataset's
    other splits through ``load_dataset``; subsets keep it (it names the source,
    not the subset).
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
        handle: Any = None,
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
        #: How to load this dataset again (``data.load_dataset`` sets it; None for sets built by hand).
        self.handle = handle

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
        """uint8 pixels -> float32 in [-1, 1] (the module's :func:`to_float`)."""
        return to_float(pixels)

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
        report = self.report.derived(len(idx), f"subset of {len(idx)} of {len(self)} images", skipped=False)
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
            handle=self.handle,
        )

    def class_counts(self) -> dict[str, int]:
        """Images per class name (multi-label: images carrying each label)."""
        return class_counts(self.labels, self.class_names, len(self))

    def card(self) -> DatasetCard:
        """The dataset card (source, licence, modality, counts, preprocessing)."""
        return self._card


def class_counts(labels: np.ndarray | None, class_names: Sequence[str], n: int) -> dict[str, int]:
    """Images per class name (multi-label: images carrying each label; None: one "(unlabelled)" count)."""
    if labels is None:
        return {"(unlabelled)": int(n)}
    labels = np.asarray(labels)
    if labels.ndim == 2:
        sums = labels.sum(axis=0)
        return {name: int(sums[i]) for i, name in enumerate(class_names)}
    counts = np.bincount(labels.astype(np.int64), minlength=len(class_names))
    return {name: int(counts[i]) for i, name in enumerate(class_names)}


# --------------------------------------------------------------------------- [-1, 1] <-> uint8

#: uint8 value ``p`` <-> float ``p / PIXEL_SCALE - 1``: 0 -> -1, 255 -> +1.
PIXEL_SCALE = 127.5


def to_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (0..255) -> float32 in [-1, 1] (``p / 127.5 - 1``), one copy only."""
    out = np.array(pixels, dtype=np.float32)
    out /= PIXEL_SCALE
    out -= 1.0
    return out


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [-1, 1] -> uint8 0..255: ``rint((x + 1) * 127.5)``, clipped to 0..255.

    Values outside [-1, 1] are clipped; NaN becomes 0. Computed in float32, so
    ``to_uint8(to_float(p)) == p`` for every uint8 ``p``.
    """
    out = np.array(images, dtype=np.float32)
    out += 1.0
    out *= PIXEL_SCALE
    np.rint(out, out=out)
    np.clip(out, 0.0, 255.0, out=out)
    np.nan_to_num(out, copy=False, nan=0.0)
    return out.astype(np.uint8)
