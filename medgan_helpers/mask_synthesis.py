"""Mask-to-image synthesis: a label map in, a T1-like slice out, for new (image, mask) pairs.

The generator is the kit's pix2pix (:mod:`medgan_helpers.pix2pix`, ``recipe.Pix2PixConfig``)
run in the mask -> image direction: its input is the label map as one-hot channels
(one per label, background included), its target the real slice. Nothing of pix2pix
is changed or copied: :func:`synthesis_pairs` turns a segmentation set into the
``PairedSet`` pix2pix already trains on (the one-hot maps stored as uint8 0/255
"images", so the pipeline's usual scaling gives exactly -1/+1), and :func:`train`
is ``pix2pix.train`` on it.

New anatomy comes from the masks, not from noise: :func:`new_masks` deforms real
training masks (elastic + affine, :mod:`medgan_helpers.deform`, nearest neighbour, so
labels stay labels) and :func:`synthetic_pairs` paints an image for every new mask.
With the same ``seed`` and settings, :func:`new_masks` draws the very grids that
``deform.deform_pairs`` draws, so "the generator's images on these masks" and "the
real images moved by the same deformations" can be compared mask for mask (the
control of ``benchmarks/seg_synthetic.py``).

Conventions as in :mod:`medgan_helpers.segmentation`: images float32 N×S×S×1 in
[-1, 1], label maps integer N×S×S (0 = background).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medgan_helpers import deform, pix2pix
from medgan_helpers.data.imageset import ImageSet, to_float
from medgan_helpers.data.pairs import PairedSet

TASK = "mask-to-image"


def _check_masks(masks: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Integer N×S×S label maps (a trailing channel of 1 dropped), every label below ``num_classes``."""
    masks = np.asarray(masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.ndim != 3 or masks.shape[1] != masks.shape[2]:
        raise ValueError(f"masks must be N×S×S label maps, got shape {masks.shape}.")
    if masks.dtype.kind not in "ui":
        raise ValueError(f"masks must hold integer labels, got {masks.dtype}: pass label ids (0 = background), "
                         "not images or probabilities.")
    if masks.size and int(masks.min()) < 0:
        raise ValueError(f"masks hold the negative label {int(masks.min())}: labels are 0, 1, … (0 = background).")
    if num_classes is not None and masks.size and int(masks.max()) >= num_classes:
        raise ValueError(f"masks hold label {int(masks.max())} but num_classes={num_classes}: pass one class per "
                         "label value, background included (or a generator trained on these labels).")
    return masks


def one_hot_pixels(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """The label maps as one-hot uint8 N×S×S×K: 255 in the channel of the pixel's label, 0 elsewhere."""
    masks = _check_masks(masks, num_classes)
    return (np.arange(num_classes, dtype=masks.dtype) == masks[..., None]).astype(np.uint8) * np.uint8(255)


def one_hot(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """The generator's input: one-hot float32 N×S×S×K, +1 for the pixel's label and -1 elsewhere.

    The same numbers as :func:`one_hot_pixels` after the kit's uint8 -> [-1, 1] scaling
    (``data.to_float``), so training and synthesis see one encoding.
    """
    return to_float(one_hot_pixels(masks, num_classes))


def synthesis_pairs(seg: PairedSet) -> PairedSet:
    """A segmentation set turned around: inputs its label maps (one-hot), targets its images.

    ``seg`` is a set with ``mask_labels`` (``brain-mri-seg``, ``folder-pairs`` with
    ``b_kind="mask"``); the result is what ``pix2pix.train`` takes.
    """
    if not getattr(seg, "mask_labels", None):
        raise ValueError(f"{getattr(seg, 'name', seg)!r} is not a segmentation set: load 'brain-mri-seg' or "
                         "folder-pairs with b_kind='mask' (mask-to-image needs label maps).")
    if seg.input_size != seg.image_size:
        raise ValueError(f"images ({seg.input_size} px) and masks ({seg.image_size} px) differ in size.")
    k, images = len(seg.mask_labels), seg.inputs
    onehot = ImageSet(one_hot_pixels(seg.masks, k), images.labels, images.class_names, name=seg.name,
                      split=seg.split, report=seg.report, card=seg.card(), metadata=images.metadata)
    return PairedSet(onehot, images, task=TASK, name=seg.name, split=seg.split, report=seg.report,
                     card=seg.card(), input_channels=tuple(f"one-hot {n}" for n in seg.mask_labels))


def train(seg: PairedSet, *, adversarial: bool = True, verbose: int = 0, **knob_overrides: Any) -> pix2pix.Trained:
    """Fit pix2pix from ``seg``'s label maps to its images (``pix2pix.train`` on :func:`synthesis_pairs`).

    Knobs as for ``pix2pix.train`` (``recipe.Pix2PixConfig``: ``epochs``, ``batch_size``,
    ``g_base_filters``, …); ``adversarial=False`` gives the L1-only U-Net.
    """
    return pix2pix.train(synthesis_pairs(seg), adversarial=adversarial, verbose=verbose, **knob_overrides)


def new_masks(masks: np.ndarray, *, copies: int = 1, seed: int = 0,
              settings: deform.DeformSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` deformed versions of every real mask: the new label maps and each one's source index.

    Every mask is warped by its own random elastic + affine grid (``deform.deformation_grid``)
    with nearest-neighbour sampling, so the result keeps the input's dtype and holds only
    its labels (``settings``: default ``deform.DeformSettings()``). Order and random draws are those of ``deform.deform_pairs(images, masks,
    copies=copies, seed=seed, settings=settings)``: the same seed gives the same grids.
    """
    masks, settings = _check_masks(masks), settings or deform.DeformSettings()
    if copies < 1:
        raise ValueError(f"copies={copies} must be >= 1.")
    rng = np.random.default_rng(seed)
    source = np.tile(np.arange(len(masks)), copies)
    out = np.empty((len(source), *masks.shape[1:]), masks.dtype)
    for i, j in enumerate(source):
        out[i] = deform.warp(masks[j], deform.deformation_grid(masks.shape[1], rng, settings), order=0)
    return out, source


def _translator(generator):
    """(translate function, its input shape S×S×K) of a Pix2Pix, a pix2pix.Trained or a Keras U-Net."""
    model = generator.model if isinstance(generator, pix2pix.Trained) else generator
    if isinstance(model, pix2pix.Pix2Pix):
        return model.translate, tuple(model.generator.inputs[0].shape[1:])
    if hasattr(model, "inputs") and hasattr(model, "predict"):
        def translate(x: np.ndarray, batch_size: int = 64) -> np.ndarray:
            return np.clip(np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32), -1.0, 1.0)
        return translate, tuple(model.inputs[0].shape[1:])
    raise TypeError(f"generator must be a pix2pix.Pix2Pix (from mask_synthesis.train), its Trained result or a "
                    f"Keras U-Net, got {type(generator).__name__}.")


def synthetic_pairs(generator, masks: np.ndarray, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks): the generator's slice for every label map, float32 N×S×S×C in [-1, 1], and the masks.

    ``generator``: from :func:`train` (its EMA generator translates). The masks come back
    unchanged (integer N×S×S), aligned with the images pair by pair; their labels must be
    below the generator's number of input channels.
    """
    translate, (size, _, k) = _translator(generator)
    masks = _check_masks(masks, k)
    if not len(masks):
        raise ValueError("no masks given: pass at least one label map (new_masks makes them from real ones).")
    if masks.shape[1] != size:
        raise ValueError(f"the generator makes {size} px images but the masks are {masks.shape[1]} px: "
                         "use masks of the size it was trained on.")
    return translate(one_hot(masks, k), batch_size=batch_size).astype(np.float32), masks
