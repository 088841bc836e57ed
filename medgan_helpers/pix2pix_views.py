"""The pictures of a translation model (notebook 08): the per-epoch grid and the comparison figure.

- :class:`TranslationGrid`: a ``callbacks.SampleGrid`` that, after each epoch,
  shows fixed inputs, the model's outputs for them and their targets.
- :func:`comparison_figure`: several methods' outputs beside the input and the
  target, with each output's error map and invented-detail map on shared scales.

They draw any model with ``translate(inputs)`` (``pix2pix.Pix2Pix``); the
model itself, its training and its run folder are in :mod:`medgan_helpers.pix2pix`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medgan_helpers import callbacks, pictures
from medgan_helpers.pix2pix_models import bicubic


class TranslationGrid(callbacks.SampleGrid):
    """A ``callbacks.SampleGrid`` for translation: fixed inputs -> rows of inputs, outputs and targets.

    One row per input channel (upsampled to the output size for display), then the
    model's outputs, then the targets: the same pairs after every epoch.
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, folder: str | Path | None = None,
                 every: int = 1, display: bool | str = "auto"):
        super().__init__(folder, n=len(inputs), every=every, display=display)
        self.inputs, self.targets = np.asarray(inputs, np.float32), np.asarray(targets, np.float32)

    def grid_now(self) -> np.ndarray:
        outputs = self.model.translate(self.inputs)
        size = outputs.shape[1]
        shown = bicubic(self.inputs, size) if self.inputs.shape[1] != size else self.inputs
        rows = [shown[..., c : c + 1] for c in range(shown.shape[-1])] + [outputs, self.targets]
        return pictures.image_grid(np.concatenate(rows), columns=len(self.inputs))


def comparison_figure(inputs: np.ndarray, outputs: dict[str, np.ndarray], targets: np.ndarray,
                      indices, title: str = "", error_max: float = 0.5, invented_max: float | None = None):
    """Input, every method's output and the target side by side at the same size and grey scale,
    then each output's error map ``|output - target|`` and its invented-detail map
    (``evaluation.image_quality.invented_detail_map``), each kind on one shared colour scale
    (``invented_max``: its top, the same for several figures; default: this figure's own).

    Returns the matplotlib figure (one block of three rows per index in ``indices``).
    """
    import matplotlib.pyplot as plt

    from medgan_helpers.evaluation import image_quality

    size = targets.shape[1]
    shown = inputs if inputs.shape[1] == size else np.repeat(np.repeat(inputs, size // inputs.shape[1], 1),
                                                             size // inputs.shape[1], 2)  # nearest: see the pixels
    names = list(outputs)
    invented = {(i, n): image_quality.invented_detail_map(outputs[n][i], targets[i]) for i in indices for n in names}
    if invented_max is None:
        invented_max = max(float(np.percentile(m, 99.5)) for m in invented.values()) or 1.0
    cols = len(names) + 2
    fig, axes = plt.subplots(3 * len(indices), cols, figsize=(1.9 * cols, 1.95 * 3 * len(indices)), squeeze=False)
    for block, i in enumerate(indices):
        top, err, inv = axes[3 * block], axes[3 * block + 1], axes[3 * block + 2]
        top[0].imshow(shown[i, ..., 0], cmap="gray", vmin=-1, vmax=1)
        top[0].set_title("input" + (f" ({inputs.shape[1]} px)" if inputs.shape[1] != size else
                                    (" (channel 1)" if inputs.shape[-1] > 1 else "")), fontsize=8)
        for c, name in enumerate(names, start=1):
            top[c].imshow(outputs[name][i, ..., 0], cmap="gray", vmin=-1, vmax=1)
            top[c].set_title(name, fontsize=8)
            e = err[c].imshow(np.abs(outputs[name][i, ..., 0] - targets[i, ..., 0]), cmap="magma", vmin=0, vmax=error_max)
            h = inv[c].imshow(invented[(i, name)], cmap="viridis", vmin=0, vmax=invented_max)
        top[-1].imshow(targets[i, ..., 0], cmap="gray", vmin=-1, vmax=1)
        top[-1].set_title("target (truth)", fontsize=8)
        err[0].text(0.5, 0.5, "|output − target|", ha="center", va="center", fontsize=8)
        inv[0].text(0.5, 0.5, "invented detail", ha="center", va="center", fontsize=8)
        fig.colorbar(e, ax=err[-1], fraction=0.9, label="error")
        fig.colorbar(h, ax=inv[-1], fraction=0.9, label="invented")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
