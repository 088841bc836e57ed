"""Images you already hold in memory -> an :class:`ImageSet` (for ``train``, tests and experiments)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medgan_helpers.data.imageset import DatasetCard, ImageSet, LoadReport, class_counts, to_uint8


def from_arrays(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    *,
    name: str = "array",
    split: str = "train",
) -> ImageSet:
    """An ImageSet around N×H×W×C images (float in [-1, 1], or uint8) and optional int labels.

    Class names default to ``class 0 … class K-1``. Float images are stored as
    uint8 like every other source (``to_uint8``), so a round trip through
    ``ImageSet.images`` is exact to 1/255.
    """
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[1] != array.shape[2]:
        raise ValueError(f"images have shape {array.shape}; expected N×H×W×C square images.")
    pixels = array if array.dtype == np.uint8 else to_uint8(array)
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(labels) != len(pixels):
            raise ValueError(f"{len(labels)} labels for {len(pixels)} images: give one label per image.")
        class_names = list(class_names or [f"class {i}" for i in range(int(labels.max()) + 1)])
    else:
        class_names = list(class_names or [])
    report = LoadReport(name, split, loaded=len(pixels))
    card = DatasetCard(
        name=name, source="images given as an array", modality="unknown", licence="unknown",
        description="images passed in directly as an array", image_size=int(pixels.shape[1]),
        channels=int(pixels.shape[3]), class_names=class_names,
        counts={split: class_counts(labels, class_names, len(pixels))}, preprocessing=[],
    )
    return ImageSet(pixels, labels, class_names, name=name, split=split, report=report, card=card)
