"""The embedded ``brain-mri-seg`` source: every ``brain-mri`` slice with a tissue label map.

Labels: 0 background, 1 CSF, 2 grey matter, 3 white matter (:data:`LABEL_NAMES`).
They come from the MNI ICBM152 2009a tissue probability maps that ship in the
``nilearn`` wheel beside the T1 template (grey and white matter on the same 1 mm
grid; the same maps as ``brain-mri-pairs`` and notebook 08). nilearn ships no CSF
map, so CSF is what is left inside the brain: ``P(CSF) = 1 - P(GM) - P(WM)``
(clipped at 0) inside the T1 template's brain (T1 > 0; the template is skull
stripped), and every probability is 0 outside it.

How a label map is made, for each plane of ``brain-mri`` (same seed, same planes,
same slice-block splits, same slice-level labels):

1. the three probability volumes get the same Gaussian anti-aliasing blur and the
   same trilinear resampling as the T1 (``brain.anti_alias``, ``brain.resample``):
   probabilities are interpolated, labels never are;
2. a pixel whose total tissue probability (the share of it inside the brain) is
   below :data:`TISSUE_THRESHOLD` (0.5) is background;
3. every other pixel gets the tissue of highest probability (argmax; ties go to
   the lower label).

So the label maps are integers 0-3 at every image size, made at that size from
probabilities, never resized as labels. They are cached beside the T1 slices
(``cache/brain-mri-seg/``); the set is a :class:`~medgan_helpers.data.pairs.PairedSet`
with ``task="segmentation"``: inputs the ``brain-mri`` T1 slices, targets the label
maps (``masks``: uint8 N×S×S). A population template has no patient in it: no
identifying data exists to strip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medgan_helpers import config
from medgan_helpers.data import brain, cachefiles, pairs
from medgan_helpers.data.imageset import DataError, DatasetCard, ImageSet, LoadReport
from medgan_helpers.data.pairs import PairedSet

BRAIN_MRI_SEG = "brain-mri-seg"
#: Bump when the recipe of the label maps changes: it is part of the cache key.
VERSION = 1
LABEL_NAMES = ("background", "CSF", "grey matter", "white matter")
#: A pixel is background when less than this share of it lies inside the brain
#: (its CSF + GM + WM probability after resampling): the brain's edge at half a pixel.
TISSUE_THRESHOLD = 0.5


def cache_path(cache_dir: Path, image_size: int, seed: int) -> Path:
    """Where the label maps for one (size, seed) pair are cached (the T1 is brain-mri's cache)."""
    return Path(cache_dir) / BRAIN_MRI_SEG / f"{BRAIN_MRI_SEG}_v{VERSION}_{image_size}px_seed{seed}.npz"


def tissue_probabilities() -> tuple[list[np.ndarray], np.ndarray]:
    """CSF, GM and WM probability volumes (float32, 0 outside the brain) and their affine."""
    from nilearn import datasets

    gm, wm, affine = pairs.tissue_volumes()  # checked to be on the T1 template's grid
    inside = (np.asarray(datasets.load_mni152_template(resolution=1).get_fdata(dtype=np.float32)) > 0)
    inside = inside.astype(np.float32)
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * inside
    return [csf, gm * inside, wm * inside], affine


def label_maps(probabilities: np.ndarray, threshold: float = TISSUE_THRESHOLD) -> np.ndarray:
    """Label ids (uint8) from per-pixel CSF / GM / WM probabilities ``(..., 3)`` in [0, 1].

    0 where their sum is below ``threshold``, else 1 + argmax (1 CSF, 2 GM, 3 WM).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.shape[-1] != len(LABEL_NAMES) - 1:
        raise ValueError(f"probabilities must end in {len(LABEL_NAMES) - 1} channels (CSF, GM, WM), "
                         f"got shape {probabilities.shape}.")
    tissue = probabilities.sum(axis=-1) >= threshold
    return np.where(tissue, 1 + np.argmax(probabilities, axis=-1), 0).astype(np.uint8)


def build_labels(image_size: int, seed: int) -> dict[str, np.ndarray]:
    """The label map of every plane of ``brain-mri`` (``brain.draw_planes``): ``{split}_labelmap`` N×S×S."""
    volumes, affine = tissue_probabilities()
    volumes = [brain.anti_alias(v, image_size) for v in volumes]
    out = {}
    for split, params in brain.draw_planes(seed).items():
        probs = np.stack([brain.resample(v, affine, params, image_size) for v in volumes], -1)
        out[f"{split}_labelmap"] = label_maps(probs.astype(np.float32) / 255.0)
    return out


def load_label_arrays(image_size: int, seed: int, cache_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Cached :func:`build_labels` (built once under a lock, published atomically)."""
    return cachefiles.load_or_build(cache_path(cache_dir, image_size, seed),
                                    pairs.split_layout(image_size, "labelmap"),
                                    lambda: build_labels(image_size, seed))


def load(image_size: int, split: str, seed: int = 0) -> PairedSet:
    """One split of ``brain-mri-seg``: T1 slices (inputs) and their label maps (targets)."""
    if image_size not in brain.SIZES:
        raise DataError(f"brain-mri-seg has no image_size={image_size}. Valid sizes: "
                        f"{', '.join(map(str, brain.SIZES))}.")
    t1 = brain.load(image_size, split, seed)
    arrays, info = load_label_arrays(image_size, seed, config.cache_dir())
    maps = arrays[f"{split}_labelmap"]
    share = np.bincount(maps.ravel(), minlength=len(LABEL_NAMES)) / max(maps.size, 1)
    how = ("label maps read from the cache" if info["from_cache"]
           else f"label maps built from the MNI152 tissue maps in {info['build_seconds']:.1f} s")
    report = LoadReport(BRAIN_MRI_SEG, split, loaded=len(t1), notes=[
        "task: segmentation", how,
        "pixels per label: " + ", ".join(f"{n} {s:.1%}" for n, s in zip(LABEL_NAMES, share)),
        *t1.report.notes])
    counts = {s: dict(c) for s, c in t1.card().counts.items()}
    card = _card(image_size, counts)
    inputs = ImageSet(t1.pixels, t1.labels, t1.class_names, name=BRAIN_MRI_SEG, split=split,
                      report=report, card=card, metadata=t1.metadata)
    targets = ImageSet(maps[..., None], t1.labels, t1.class_names, name=BRAIN_MRI_SEG, split=split,
                       report=report, card=card, metadata=t1.metadata)
    return PairedSet(inputs, targets, task="segmentation", name=BRAIN_MRI_SEG, split=split, report=report,
                     card=card, input_channels=("T1",), mask_labels=LABEL_NAMES)


def _card(image_size: int, counts: dict) -> DatasetCard:
    return pairs.template_card(
        name=BRAIN_MRI_SEG,
        modality="MR (T1-weighted population average) with tissue label maps",
        description=("The T1 slices of brain-mri (same seed: the same planes, splits and slice-level "
                     "labels), each with a label map: " + ", ".join(
                         f"{v} {n}" for v, n in enumerate(LABEL_NAMES)) + "."),
        image_size=image_size,
        counts=counts,
        preprocessing=[
            "input: the brain-mri T1 slice (see its card), uint8",
            "CSF probability = 1 - P(GM) - P(WM), clipped at 0, inside the T1 template's brain "
            "(T1 > 0); every tissue probability is 0 outside it (nilearn ships no CSF map)",
            "the CSF/GM/WM probabilities get the T1's Gaussian anti-aliasing blur and trilinear "
            "resampling of the same planes (medgan_helpers.data.brain.resample)",
            f"label: background where CSF + GM + WM < {TISSUE_THRESHOLD} (under half the pixel inside "
            "the brain), else the tissue of highest probability (argmax); labels are never interpolated",
            "target: the label map, uint8 values 0-3 (never scaled to [-1, 1])",
            "splits: the slice blocks of brain-mri (disjoint axial positions, >= 3 mm guard gaps)",
        ],
        notes=["labels from a population atlas: smooth, symmetric anatomy, not one patient's "
               "manual segmentation; CSF is the brain's remainder, so it includes the ventricles and "
               "the sulci the template still shows",
               "a teaching dataset: not for clinical claims"],
    )


