"""Paired images for image-to-image translation: ``brain-mri-pairs`` and ``folder-pairs:PATH``.

A :class:`PairedSet` holds two aligned :class:`ImageSet`\\ s, ``inputs`` (what
the model sees, "A") and ``targets`` (what it must produce, "B"): image ``i`` of
one belongs with image ``i`` of the other. Both share one load report and one
dataset card.

``brain-mri-pairs`` (embedded, no network) draws *the very planes of*
``brain-mri`` (same seed, same slice-block splits, same labels) through three
volumes that ship in the ``nilearn`` wheel: the MNI ICBM152 2009a T1 template and
its grey- and white-matter probability maps. Its targets are the ``brain-mri``
images themselves, pixel for pixel. Two tasks:

``"tissue-to-t1"``
    input: the 2-channel GM / WM probability map of the plane; target: the T1 slice.
``"super-resolution"``
    input: the T1 slice reduced 4× by area averaging (each low-resolution pixel
    is the mean of a 4×4 block — what a voxel four times bigger would measure;
    16 px for 64 px targets, 32 px for 128); target: the slice at full size.

``folder-pairs:PATH`` reads a folder with sub-folders ``A/`` (inputs) and ``B/``
(targets), through the readers, checks and privacy rules of ``folder:``; files
are paired by their path relative to ``A/`` and ``B/`` without the extension
(``A/p1/s3.dcm`` ↔ ``B/p1/s3.png``; slices of volumes by their index). Files
without a partner are listed in the load report, by opaque id. With
``b_kind="mask"`` B/ holds label maps (integer PNG or NIfTI, read by
:mod:`~medgan_helpers.data.masks`: never interpolated; masks that do not fit their
images are named in the report), and the set is a segmentation set
(``PairedSet.mask_labels``, ``PairedSet.masks``), like ``brain-mri-seg``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers import config
from medgan_helpers.data import brain, cachefiles, folder, masks, privacy
from medgan_helpers.data.handle import DatasetHandle
from medgan_helpers.data.imageset import (
    PIXEL_SCALE,
    SPLITS,
    DataError,
    DatasetCard,
    ImageSet,
    LoadReport,
    LocalPaths,
    class_counts,
)
from medgan_helpers.data.readers import (
    DICOM_EXTS,
    NIFTI_EXTS,
    RASTER_EXTS,
    ScanResult,
    unit_to_uint8,
)

BRAIN_MRI_PAIRS = "brain-mri-pairs"
TASKS = ("tissue-to-t1", "super-resolution")
#: Bump when the recipe of the tissue maps changes: it is part of the cache key.
VERSION = 1
#: Super-resolution factor: 64 px targets from 16 px inputs, 128 from 32.
SR_FACTOR = 4
TISSUE_CHANNELS = ("grey matter", "white matter")
#: ``pairs-`` + 8 hex digits: the name of a loaded pairs folder.
ID_PATTERN = re.compile(r"pairs-[0-9a-f]{8}")


class PairedSet:
    """Aligned inputs and targets of one split: ``inputs[i]`` belongs with ``targets[i]``.

    A segmentation set (``brain-mri-seg``, ``folder-pairs`` with ``b_kind="mask"``) has
    ``mask_labels``, the names of the label values 0, 1, …: its targets' pixels are then
    label ids (N×S×S×1 uint8), not intensities — use :attr:`masks`, never ``target_images``.
    """

    def __init__(self, inputs: ImageSet, targets: ImageSet, *, task: str, name: str, split: str,
                 report: LoadReport, card: DatasetCard, input_channels: tuple[str, ...] = (),
                 mask_labels: tuple[str, ...] = ()):
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs for {len(targets)} targets")
        self.inputs, self.targets = inputs, targets
        self.task, self.name, self.split = task, name, split
        self.report, self._card = report, card
        self.input_channels = tuple(input_channels)
        self.mask_labels = tuple(mask_labels)
        #: How to load this dataset again (set by ``data.load_dataset``; None for sets built by hand).
        self.handle: DatasetHandle | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        targets = (f"label maps {self.image_size}px, {len(self.mask_labels)} labels" if self.mask_labels
                   else f"targets {self.image_size}px×{self.targets.channels}")
        return (f"PairedSet({self.name!r}, task={self.task!r}, split={self.split!r}, n={len(self)}, "
                f"inputs {self.input_size}px×{self.inputs.channels}, {targets})")

    @property
    def masks(self) -> np.ndarray:
        """The label maps, uint8 N×S×S of label ids (a segmentation set only)."""
        if not self.mask_labels:
            raise DataError(f"{self.name} is not a segmentation set: its targets are images. Load label "
                            "maps with 'brain-mri-seg' or folder-pairs with b_kind='mask'.")
        return self.targets.pixels[..., 0]

    @property
    def image_size(self) -> int:
        """Side of the targets (the output) in pixels."""
        return self.targets.image_size

    @property
    def input_size(self) -> int:
        """Side of the inputs in pixels (smaller than ``image_size`` for super-resolution)."""
        return self.inputs.image_size

    @property
    def labels(self) -> np.ndarray | None:
        return self.targets.labels

    @property
    def class_names(self) -> list[str]:
        return self.targets.class_names

    @property
    def input_images(self) -> np.ndarray:
        """The inputs as float32 in [-1, 1]."""
        return self.inputs.images

    @property
    def target_images(self) -> np.ndarray:
        """The targets as float32 in [-1, 1]."""
        return self.targets.images

    def subset(self, indices) -> PairedSet:
        """A new PairedSet with only the pairs at ``indices`` (both sides alike)."""
        idx = np.asarray(indices, dtype=np.int64)
        inputs, targets = self.inputs.subset(idx), self.targets.subset(idx)
        subset = PairedSet(inputs, targets, task=self.task, name=self.name, split=self.split,
                           report=targets.report, card=self._card, input_channels=self.input_channels,
                           mask_labels=self.mask_labels)
        subset.handle = self.handle
        return subset

    def card(self) -> DatasetCard:
        """The dataset card (both sides, the pairing rule, licence, counts)."""
        return self._card

    def to_tf_dataset(self, batch_size: int = 32, seed: int = 0, shuffle: bool = True,
                      drop_remainder: bool = True):
        """``(inputs, targets)`` batches, shuffled as pairs: float32 [-1, 1], label maps as int32 N×S×S."""
        return to_tf_dataset(self, batch_size, seed, shuffle, drop_remainder)


def to_tf_dataset(pairs: PairedSet, batch_size: int = 32, seed: int = 0, shuffle: bool = True,
                  drop_remainder: bool = True):
    """``(inputs, targets)`` batches: uint8 cached, shuffled together, then scaled to [-1, 1].

    Label maps (a segmentation set) are never scaled: they come as int32 N×S×S label ids.
    """
    import tensorflow as tf

    if drop_remainder and len(pairs) < batch_size:
        raise DataError(f"{pairs.name} ({pairs.split}) has {len(pairs)} pairs, fewer than "
                        f"batch_size={batch_size}: use a smaller batch_size.")

    def to_float(pixels):  # data.to_float, as graph ops
        return tf.cast(pixels, tf.float32) / PIXEL_SCALE - 1.0

    ds = tf.data.Dataset.from_tensor_slices((np.ascontiguousarray(pairs.inputs.pixels),
                                             np.ascontiguousarray(pairs.targets.pixels))).cache()
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    def to_target(b):
        return tf.cast(b[..., 0], tf.int32) if pairs.mask_labels else to_float(b)

    ds = ds.map(lambda a, b: (to_float(a), to_target(b)), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise DataError(f"task={task!r} is not known: use {' or '.join(map(repr, TASKS))}.")


def downsample(pixels: np.ndarray, factor: int = SR_FACTOR) -> np.ndarray:
    """uint8 N×S×S×C -> N×(S/f)×(S/f)×C by area averaging (anti-aliased; the mean of each f×f block)."""
    n, height, width, channels = pixels.shape
    if height % factor or width % factor:
        raise DataError(f"images of {height}×{width} px cannot be reduced by {factor}: use a multiple of {factor}.")
    blocks = pixels.reshape(n, height // factor, factor, width // factor, factor, channels)
    return np.rint(blocks.mean(axis=(2, 4), dtype=np.float64)).astype(np.uint8)


# --------------------------------------------------------------------------- brain-mri-pairs


def cache_path(cache_dir: Path, image_size: int, seed: int) -> Path:
    """Where the tissue maps for one (size, seed) pair are cached (the T1 is brain-mri's cache)."""
    return Path(cache_dir) / BRAIN_MRI_PAIRS / f"{BRAIN_MRI_PAIRS}_v{VERSION}_{image_size}px_seed{seed}.npz"


def tissue_volumes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GM and WM probability maps (float32 in [0, 1]) and their affine, from nilearn's wheel."""
    from nilearn import datasets

    gm = datasets.load_mni152_gm_template(resolution=1)
    wm = datasets.load_mni152_wm_template(resolution=1)
    t1 = datasets.load_mni152_template(resolution=1)
    for name, img in (("grey-matter", gm), ("white-matter", wm)):
        if img.shape != t1.shape or not np.allclose(img.affine, t1.affine):
            raise DataError(f"nilearn's {name} map is not on the T1 template's grid ({img.shape}): "
                            "brain-mri-pairs needs nilearn >= 0.10 (maps shipped beside the template).")
    volumes = [np.clip(np.asarray(img.get_fdata(dtype=np.float32)), 0.0, 1.0) for img in (gm, wm)]
    return volumes[0], volumes[1], np.asarray(t1.affine, dtype=np.float64)


def build_tissue(image_size: int, seed: int) -> dict[str, np.ndarray]:
    """GM/WM maps through the planes of ``brain-mri`` (``brain.draw_planes``): ``{split}_tissue`` N×S×S×2."""
    gm, wm, affine = tissue_volumes()
    volumes = [brain.anti_alias(v, image_size) for v in (gm, wm)]
    return {f"{split}_tissue": np.stack([brain.resample(v, affine, params, image_size) for v in volumes], -1)
            for split, params in brain.draw_planes(seed).items()}


def split_layout(image_size: int, key: str, channels: tuple[int, ...] = ()) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The cache layout of one uint8 array per split, ``{split}_{key}``: N×S×S(×channels), N from brain-mri."""
    return {f"{split}_{key}": ("uint8", (brain.PER_CLASS[split] * len(brain.CLASS_NAMES), image_size, image_size,
                                         *channels)) for split in SPLITS}


def load_tissue_arrays(image_size: int, seed: int, cache_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Cached :func:`build_tissue` (built once under a lock, published atomically, like brain-mri)."""
    return cachefiles.load_or_build(cache_path(cache_dir, image_size, seed), split_layout(image_size, "tissue", (2,)),
                                    lambda: build_tissue(image_size, seed))


def load_brain_pairs(image_size: int, split: str, seed: int = 0, task: str = "tissue-to-t1") -> PairedSet:
    """One split of ``brain-mri-pairs`` for ``task`` (see the module docstring)."""
    _check_task(task)
    if image_size not in brain.SIZES:
        raise DataError(f"brain-mri-pairs has no image_size={image_size}. Valid sizes: "
                        f"{', '.join(map(str, brain.SIZES))} (the size of the targets).")
    t1 = brain.load(image_size, split, seed)  # the targets: brain-mri itself
    if task == "tissue-to-t1":
        tissue, info = load_tissue_arrays(image_size, seed, config.cache_dir())
        input_pixels, channels = tissue[f"{split}_tissue"], TISSUE_CHANNELS
        how = ("read from the cache" if info["from_cache"]
               else f"tissue maps built from the MNI152 GM/WM maps in {info['build_seconds']:.1f} s")
    else:
        input_pixels, channels = downsample(t1.pixels), ("T1, 4× lower resolution",)
        how = f"inputs reduced {SR_FACTOR}× by area averaging on load"
    report = LoadReport(BRAIN_MRI_PAIRS, split, loaded=len(t1), notes=[f"task: {task}", how, *t1.report.notes])
    counts = {s: dict(c) for s, c in t1.card().counts.items()}
    card = _brain_pairs_card(task, image_size, input_pixels.shape[1], counts)
    inputs = ImageSet(input_pixels, t1.labels, t1.class_names, name=BRAIN_MRI_PAIRS, split=split,
                      report=report, card=card, metadata=t1.metadata)
    targets = ImageSet(t1.pixels, t1.labels, t1.class_names, name=BRAIN_MRI_PAIRS, split=split,
                       report=report, card=card, metadata=t1.metadata)
    return PairedSet(inputs, targets, task=task, name=BRAIN_MRI_PAIRS, split=split, report=report,
                     card=card, input_channels=channels)


def template_card(**fields: Any) -> DatasetCard:
    """The card of a source made from nilearn's MNI152 volumes: their source, licence and citation filled in."""
    return DatasetCard(
        source=("MNI ICBM152 2009a nonlinear symmetric templates, 1 mm, shipped inside the nilearn "
                "wheel: T1 (load_mni152_template), grey matter (load_mni152_gm_template) and white "
                "matter (load_mni152_wm_template) probability maps on the same 197×233×189 grid"),
        licence=brain.LICENCE, licence_text=brain.COPYRIGHT_NOTICE, citation=brain.CITATION, channels=1,
        class_names=list(brain.CLASS_NAMES), **fields)


def _brain_pairs_card(task: str, image_size: int, input_size: int, counts: dict) -> DatasetCard:
    if task == "tissue-to-t1":
        inputs = (f"input: 2 channels, the grey- and white-matter probability (0-1 -> 0-255) of the "
                  f"same plane, {image_size}×{image_size}")
    else:
        inputs = (f"input: the T1 slice reduced {SR_FACTOR}× to {input_size}×{input_size} by area "
                  f"averaging (the mean of each {SR_FACTOR}×{SR_FACTOR} block)")
    return template_card(
        name=BRAIN_MRI_PAIRS,
        modality="MR (T1-weighted population average) and tissue probability maps",
        description=(f"Paired 2-D slices for the task {task!r}: every pair is one oblique plane of "
                     "brain-mri (same seed: the same planes, the same splits, the same labels), "
                     "resampled through each volume. The targets are the brain-mri images themselves."),
        image_size=image_size,
        counts=counts,
        preprocessing=[
            "target: the brain-mri T1 slice (see its card), uint8",
            inputs,
            "GM/WM maps: the same Gaussian anti-aliasing blur and trilinear resampling of the same "
            "planes as the T1 (medgan_helpers.data.brain.resample)",
            "splits: the slice blocks of brain-mri (disjoint axial positions, >= 3 mm guard gaps)",
            "stored as uint8 0-255; scaled to [-1, 1] on use",
        ],
        notes=["a population template: the maps and the T1 come from the same 152 brains, so the "
               "pairing is exact, more exact than any two real scans of one patient",
               "a teaching dataset: not for clinical claims"],
    )


# --------------------------------------------------------------------------- folder-pairs:PATH

#: The last 4 pairs folders read (one read for all three splits). Memory only.
_PAIR_MEMO: cachefiles.RecentResults[dict] = cachefiles.RecentResults(keep=4)
_IMAGE_SUFFIXES = tuple(sorted({*RASTER_EXTS, *DICOM_EXTS, *NIFTI_EXTS}, key=len, reverse=True))


def pairs_id(root: Path) -> str:
    """The opaque name of a pairs folder: ``pairs-`` + 8 hex of a keyed hash of its path."""
    return privacy.opaque_id("pairs", os.fsencode(root), length=8)


def _pair_key(relative: str) -> str:
    """The relative path without its image extension: what pairs a file in A with one in B."""
    lower = relative.lower()
    for suffix in _IMAGE_SUFFIXES:
        if lower.endswith(suffix):
            return relative[: -len(suffix)]
    return relative


def _read_side(root: Path, side: str, image_size: int, opts: dict,
               mask_labels: tuple[str, ...] | None | bool = False) -> tuple[ScanResult, dict, bool, dict]:
    """Read ``root/side`` like ``folder:`` does: the scan, key -> slices, colour choice, id -> path (in memory).

    ``mask_labels`` other than False: the side holds label maps (``masks.read_masks``; None = any label).
    """
    scan = ScanResult(image_size)
    entries, local, _found = folder.walk(root / side, opts, scan)
    if mask_labels is not False:
        masks.read_masks(entries, mask_labels, opts, scan)
        scan.steps.add(masks.STEP)
    for entry, kind in entries if mask_labels is False else ():
        folder.READERS[kind](entry, opts, scan)
    by_key: dict[str, list] = {}
    for piece in scan.slices:
        base = piece.item.split(" [", 1)[0]
        file_id = base.rsplit("/", 1)[-1]
        key = _pair_key(local[file_id]) + piece.item[len(base):]  # "p1/s3 [slice 7]"
        by_key.setdefault(key, []).append(piece)
    colour = sum(s.pixels.ndim == 3 for s in scan.slices)
    use_rgb = opts["color"] == "rgb" or (opts["color"] == "auto" and colour > len(scan.slices) / 2)
    return scan, by_key, use_rgb, {file_id: f"{side}/{rel}" for file_id, rel in local.items()}


def _as_channels(pixels: np.ndarray, use_rgb: bool) -> np.ndarray:
    if use_rgb and pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if not use_rgb and pixels.ndim == 3:
        pixels = unit_to_uint8(pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _skipped_keys(scan: ScanResult, paths: dict) -> dict[str, str]:
    """Pair key -> item of every file (or slice) a side skipped: its partner is then not "unmatched"."""
    out = {}
    for item, _ in scan.skipped:
        base = item.split(" [", 1)[0]
        rel = paths.get(base.rsplit("/", 1)[-1])
        if rel is not None:
            out[_pair_key(rel.split("/", 1)[1]) + item[len(base):]] = item
    return out


def _prepare_pairs(root: Path, image_size: int, seed: int, opts: dict,
                   mask_labels: tuple[str, ...] | None | bool = False) -> dict:
    """Both sides read, paired, checked and split (kept for the next split's load)."""
    key = _PAIR_MEMO.key(root, image_size, seed, sorted(opts.items(), key=str), mask_labels)
    return _PAIR_MEMO.get_or_make(key, lambda: _read_pairs(root, image_size, seed, opts, mask_labels))


def _read_pairs(root: Path, image_size: int, seed: int, opts: dict,
                mask_labels: tuple[str, ...] | None | bool = False) -> dict:
    as_masks = mask_labels is not False
    (scan_a, keys_a, rgb_a, paths_a), (scan_b, keys_b, rgb_b, paths_b) = (
        _read_side(root, s, image_size, opts, mask_labels if s == "B" else False) for s in "AB")
    skipped = [(f"A/{i}", r) for i, r in scan_a.skipped] + [(f"B/{i}", r) for i, r in scan_b.skipped]
    spare, spare_notes = masks.unused_slices(keys_a, keys_b) if as_masks else (set(), [])
    gone = {"A": _skipped_keys(scan_a, paths_a), "B": _skipped_keys(scan_b, paths_b)}
    for side, mine, other, partner in (("A", keys_a, keys_b, "B"), ("B", keys_b, keys_a, "A")):
        for name, pieces in sorted(mine.items()):
            if len(pieces) > 1:
                skipped += [(f"{side}/{p.item}", f"{len(pieces)} files in {side}/ share this name (other "
                             "extensions): the pair is ambiguous, rename one") for p in pieces]
            elif name in spare:
                continue
            elif name not in other and name in gone[partner]:
                skipped.append((f"{side}/{pieces[0].item}", f"its partner {partner}/{gone[partner][name]} was "
                                "skipped (see its reason)"))
            elif name not in other:
                skipped.append((f"{side}/{pieces[0].item}", f"unmatched: no file in {partner}/ "
                                "has the same relative name (extension ignored)"))
            elif len(other[name]) > 1:
                skipped.append((f"{side}/{pieces[0].item}", "its partner's name is ambiguous (see above)"))
    labels_a = sorted({s.label for s in scan_a.slices if s.label is not None})
    for scan in (scan_a, scan_b):
        folder.check_class_names(labels_a, scan.identities)
        scan.identities = privacy.Identities()  # identifying values are dropped here
    kept, seen, local = [], {}, LocalPaths({**paths_a, **paths_b})
    root_bytes = os.fsencode(root)
    for name in sorted(set(keys_a) & set(keys_b)):
        if len(keys_a[name]) > 1 or len(keys_b[name]) > 1:
            continue  # ambiguous: listed above
        (a,), (b,) = keys_a[name], keys_b[name]
        pair_item = privacy.opaque_id("pair", root_bytes, os.fsencode(name))
        item = f"{a.label}/{pair_item}" if a.label else pair_item
        if as_masks and (problem := masks.pair_problem(a, b)):
            skipped.append((f"B/{b.item}", f"{problem} (image A/{a.item})"))
            continue
        pix_a, pix_b = _as_channels(a.pixels, rgb_a), _as_channels(b.pixels, rgb_b and not as_masks)
        digest = hashlib.sha1(pix_a.tobytes() + b"\0" + pix_b.tobytes()).digest()
        if digest in seen:
            skipped.append((item, f"duplicate pair of {seen[digest]}"))
            continue
        seen[digest] = item
        local[pair_item] = privacy.printable(name)
        kept.append((item, a, pix_a, pix_b))
    if not kept:
        raise DataError(
            f"No pairs in {pairs_id(root)} (the folder you gave): A/ gave {len(scan_a.slices)} images, B/ gave {len(scan_b.slices)}, and "
            "none share a relative file name. Put each input in A/ and its target in B/ under the same "
            "relative path (the extension may differ), e.g. A/patient1/slice03.dcm and B/patient1/slice03.png."
        )
    grouping = folder.groups.patient_groups([a for _, a, _, _ in kept])  # A's keys decide
    labels = [a.label for _, a, _, _ in kept]
    split_of, split_notes, per_split = folder.assign_splits(grouping.groups, labels, opts["split_fractions"], seed)
    class_names = sorted({x for x in labels if x is not None})
    steps = sorted(scan_a.steps | scan_b.steps | {
        f"padded to a square with black, resized to {image_size}×{image_size} (LANCZOS anti-aliasing)",
        "stored as uint8 0-255; scaled to [-1, 1] on use"})
    return {
        "inputs": np.stack([p for _, _, p, _ in kept]), "targets": np.stack([p for _, _, _, p in kept]),
        "labels": None if not class_names else np.array([class_names.index(x) for x in labels], np.int64),
        "class_names": class_names, "items": np.array([i for i, _, _, _ in kept]), "split": split_of,
        "skipped": skipped, "split_notes": split_notes, "groups": per_split, "steps": steps,
        "notes": [*scan_a.notes, *scan_b.notes, *spare_notes, *grouping.notes], "local_paths": local,
        "found": {"A": sum(scan_a.kinds.values()), "B": sum(scan_b.kinds.values())},
        "modalities": sorted({s.modality for s in scan_a.slices}) + ["->"] + sorted({s.modality for s in scan_b.slices}),
    }


def load_folder_pairs(path: str, image_size: int, split: str, seed: int = 0, *, b_kind: str = "image",
                      mask_labels: tuple[str, ...] | None = None, **options: Any) -> PairedSet:
    """One split of ``folder-pairs:PATH`` (``A/`` inputs, ``B/`` targets); options as for ``folder:``.

    ``b_kind="mask"``: B/ holds label maps (see :mod:`~medgan_helpers.data.masks`), named by
    ``mask_labels`` (value 0 = the first name; default: every value found, ``label 0`` …).
    """
    labels_given = masks.check_b_kind(b_kind, mask_labels)
    if not path:
        raise DataError("folder-pairs: needs a path, e.g. 'folder-pairs:/data/mr_to_ct'.")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"Folder {root} does not exist (or is a file). Check the path after 'folder-pairs:'.")
    root = root.resolve()
    missing = [s for s in "AB" if not (root / s).is_dir()]
    if missing:
        raise DataError(f"folder-pairs needs two sub-folders, A/ (inputs) and B/ (targets); {root} has no "
                        f"{' and no '.join(m + '/' for m in missing)}. Put each input in A/ and its target "
                        "in B/ under the same relative path.")
    if not folder.MIN_SIZE <= image_size <= folder.MAX_SIZE:
        raise DataError(f"image_size={image_size} is out of range for folders; use "
                        f"{folder.MIN_SIZE}..{folder.MAX_SIZE} (e.g. 64).")
    defaults = dict(color="auto", modality="auto", ct_window="auto", mr_percentiles=(0.5, 99.5),
                    nifti_axis=2, split_fractions=(0.7, 0.15, 0.15), labels="subfolder")
    opts = folder.check_options(**{**defaults, **options})
    prep = _prepare_pairs(root, image_size, seed, opts, labels_given if b_kind == "mask" else False)
    mask_names = masks.label_names(labels_given, prep["targets"]) if b_kind == "mask" else ()
    name = pairs_id(root)
    mask = prep["split"] == split
    if not mask.any():
        raise DataError(f"The {split!r} split of {name} is empty: " + "; ".join(prep["split_notes"] or [
            "too few patients / files"]) + ". Use split='train', change split_fractions, or add pairs.")
    names, all_labels = prep["class_names"], prep["labels"]
    counts = {s: class_counts(None if all_labels is None else all_labels[prep["split"] == s], names,
                              int((prep["split"] == s).sum())) for s in SPLITS}
    report = LoadReport(name, split, loaded=int(mask.sum()), skipped=list(prep["skipped"]), notes=[
        f"found: {prep['found']['A']} files in A/, {prep['found']['B']} in B/; "
        f"{len(prep['items'])} pairs (matched by relative name, extension ignored)",
        *prep["notes"], *prep["split_notes"],
        *([f"B/ holds label maps: values {', '.join(f'{v} = {n}' for v, n in enumerate(mask_names))}"]
          if mask_names else []),
        "splits are by patient (A's files joined by DICOM PatientID / UIDs and patient sub-folder): "
        + ", ".join(f"{s} {prep['groups'][s]}" for s in SPLITS) + " groups"])
    report.set_local_paths(prep["local_paths"])
    card = DatasetCard(
        name=name, source=f"a local folder of pairs, id {name} (the path is not stored; read only)",
        modality=" ".join(prep["modalities"]), licence="your own data: make sure you may use it",
        description=f"{len(prep['items'])} pairs: input from A/, target from B/, matched by relative file name",
        image_size=image_size, channels=int(prep["targets"].shape[-1]), class_names=names, counts=counts,
        preprocessing=prep["steps"], notes=[folder.PRIVACY_NOTE.replace("class/file-", "class/pair-")],
        groups=dict(prep["groups"]), group_rule=folder.GROUP_RULE + " (of the file in A/)")
    meta = {"item": prep["items"][mask]}
    labels = None if all_labels is None else all_labels[mask]
    inputs, targets = (ImageSet(prep[k][mask], labels, names, name=name, split=split, report=report, card=card,
                                metadata=meta) for k in ("inputs", "targets"))
    return PairedSet(inputs, targets, task="segmentation" if mask_names else "folder-pairs", name=name,
                     split=split, report=report, card=card, mask_labels=mask_names)
