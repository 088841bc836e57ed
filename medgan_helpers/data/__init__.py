"""Medical image sources -> :class:`ImageSet` -> ``tf.data``.

One entry point, :func:`load_dataset`, understands three kinds of source:

``"brain-mri"``
    The embedded default (no network): 2-D slices resampled from the MNI ICBM152
    2009a T1 template that ships inside ``nilearn``; 4 anatomical levels; sizes
    32, 64, 128; 2400 train / 400 val / 600 test images.
any MedMNIST 2D flag (``"pneumoniamnist"``, ``"dermamnist"``, …)
    Downloaded once (MD5-verified) into :func:`medgan_helpers.config.cache_dir`;
    sizes 28, 64, 128, 224; the official train/val/test splits.
``"brain-mri-pairs"`` (``task="tissue-to-t1"`` or ``"super-resolution"``)
    Paired slices for image-to-image translation: the planes of brain-mri drawn
    through the T1 template and its grey/white-matter maps -> a :class:`PairedSet`.
``"brain-mri-seg"``
    Segmentation: the brain-mri T1 slices with label maps (0 background, 1 CSF,
    2 grey matter, 3 white matter) from nilearn's tissue probability maps -> a
    :class:`PairedSet` with ``mask_labels`` and ``masks``.
``"folder-pairs:PATH"``
    Your own pairs: ``PATH/A/`` (inputs) and ``PATH/B/`` (targets), matched by
    relative file name -> a :class:`PairedSet`; ``b_kind="mask"``: B/ holds label
    maps (integer PNG or NIfTI), never interpolated.
``"folder:PATH"``
    Your own images, recursively: PNG/JPEG/TIFF/BMP, DICOM, NIfTI. Class = the
    first-level sub-folder name; splits by patient. Nothing is ever written into
    the folder, and nothing stored names it: the set is called ``folder-<id>``
    (an opaque id) and its files ``class/file-<id>``.

Every source returns an :class:`ImageSet` whose pixels are stored compactly as
``uint8`` (memory-mapped for big MedMNIST files); ``images`` and
:func:`to_tf_dataset` turn them into float32 in [-1, 1] only when needed, with
:func:`to_float` (and :func:`to_uint8` goes back).

Labels are ``int64`` class ids of shape ``(N,)``, or ``None`` for an unlabelled
folder. ChestMNIST is multi-label: its labels are ``(N, 14)`` multi-hot ``int64``
and ``ImageSet.multi_label`` is True.

The modules of this subpackage, one job each:

- ``imageset``  ImageSet, LoadReport, DatasetCard, DataError, to_float / to_uint8
- ``brain``     the embedded brain-mri source
- ``medmnist``  MedMNIST: URL/MD5/licence table, verified download, memory-mapped load
- ``folder``    ``folder:PATH``: walk, check, split by patient, load
                (``readers`` and ``dicom`` read one file)
- ``privacy``   opaque ids, in-memory identity checks, search patterns
- ``cachefiles`` locks, temporary files and atomic publishing for the caches;
                the few recent folder reads kept in memory
- ``handle``    :class:`DatasetHandle`: what it takes to load a dataset again
- ``pipeline``  :func:`to_tf_dataset`
- ``pairs``     paired sources (``brain-mri-pairs``, ``folder-pairs:``) -> :class:`PairedSet`
- ``brain_seg`` ``brain-mri-seg``: brain-mri slices with tissue label maps
- ``masks``     label maps as folder-pairs' B side: read, check, nearest-neighbour resize
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medgan_helpers.data import brain, brain_seg, folder, medmnist, pairs
from medgan_helpers.data.arrays import from_arrays
from medgan_helpers.data.brain import BRAIN_MRI
from medgan_helpers.data.brain import SIZES as BRAIN_SIZES
from medgan_helpers.data.brain_seg import BRAIN_MRI_SEG
from medgan_helpers.data.handle import LOCAL_SOURCES, DatasetHandle
from medgan_helpers.data.imageset import (
    PIXEL_SCALE,
    SPLITS,
    DataError,
    DatasetCard,
    ImageSet,
    LoadReport,
    class_counts,
    to_float,
    to_uint8,
)
from medgan_helpers.data.pairs import BRAIN_MRI_PAIRS, PairedSet
from medgan_helpers.data.pipeline import to_tf_dataset
from medgan_helpers.data.readers import (
    CT_WINDOWS,
    pad_to_square_and_resize,
    percentile_clip,
    window,
)

__all__ = [
    "BRAIN_MRI",
    "BRAIN_MRI_PAIRS",
    "BRAIN_MRI_SEG",
    "BRAIN_SIZES",
    "CT_WINDOWS",
    "FOLDER_OPTIONS",
    "MEDMNIST_OPTIONS",
    "PIXEL_SCALE",
    "PairedSet",
    "SPLITS",
    "DataError",
    "DatasetCard",
    "DatasetHandle",
    "ImageSet",
    "LoadReport",
    "available_sources",
    "class_counts",
    "from_arrays",
    "load_dataset",
    "pad_to_square_and_resize",
    "percentile_clip",
    "to_float",
    "to_tf_dataset",
    "to_uint8",
    "window",
]

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
#: folder-pairs only: what B/ holds (``"image"`` or ``"mask"``) and the names of the label values.
MASK_OPTIONS = ("b_kind", "mask_labels")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)}.")


def _check_options(source: str, options: dict, valid: Sequence[str]) -> None:
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise DataError(
            f"{source!r} does not take the option(s) {', '.join(unknown)}. "
            f"Valid options: {', '.join(valid)}."
        )


def available_sources() -> list[str]:
    """Every source name :func:`load_dataset` accepts (``folder:PATH`` shown as a pattern)."""
    return [BRAIN_MRI, BRAIN_MRI_PAIRS, BRAIN_MRI_SEG, *medmnist.FLAGS, "folder:PATH", "folder-pairs:PATH"]


def load_dataset(
    source: str | DatasetHandle,
    image_size: int | None = None,
    split: str = "train",
    *,
    seed: int | None = None,
    **options: Any,
) -> ImageSet:
    """Load one split of a dataset as an :class:`ImageSet`.

    Args:
        source: ``"brain-mri"``, a MedMNIST 2D flag (e.g. ``"pneumoniamnist"``), or
            ``"folder:PATH"``, or the :class:`DatasetHandle` of a set loaded before
            (``imageset.handle``: loads another split the same way).
        image_size: output height = width (default 64; for a handle, its size).
            brain-mri: 32/64/128; MedMNIST: 28/64/128/224; folders: any size from 8 to 1024.
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: brain-mri (and brain-mri-pairs): which random planes are sampled; folders: how files
            are assigned to splits (default 0; for a handle, its seed). MedMNIST splits are fixed.
        **options: source-specific options (for a handle: those it was loaded with, unless given).
            MedMNIST: ``download`` (default True), ``color`` (``"auto"``/``"grey"``).
            Folders: ``color`` (``"auto"``, ``"grey"``, ``"rgb"``), ``modality``
            (``"auto"``, ``"MR"``, ``"CT"``, ``"XR"``, …), ``ct_window`` (a preset
            name from ``CT_WINDOWS`` or ``(centre, width)``; default ``"auto"``:
            the file's own window, else soft-tissue), ``mr_percentiles`` (default
            ``(0.5, 99.5)``), ``nifti_axis`` (default 2 = axial),
            ``split_fractions`` (default ``(0.7, 0.15, 0.15)``).
            brain-mri-pairs: ``task`` (``"tissue-to-t1"``, default, or
            ``"super-resolution"``). folder-pairs: the folder options, and ``b_kind``
            (``"image"``, default, or ``"mask"``: B/ holds label maps) with ``mask_labels``
            (the names of the label values 0, 1, …).

    Returns:
        an :class:`ImageSet`; for the paired sources a :class:`PairedSet`. Either
        carries ``.handle``, a :class:`DatasetHandle` that loads it again.

    Raises:
        DataError: unknown source, unsupported size, bad split, or no usable images;
            the id of a user's folder (``folder-<8 hex>``, as a run folder names it),
            or a handle that lost the folder's path: pass the folder again.
    """
    if isinstance(source, DatasetHandle):
        if not source.can_load:
            raise _pass_the_folder_again(source.name)
        return load_dataset(
            source.source, source.image_size if image_size is None else image_size, split,
            seed=source.seed if seed is None else seed, **{**source.options, **options})
    image_size = 64 if image_size is None else int(image_size)
    seed = 0 if seed is None else int(seed)
    loaded = _load(source, image_size, split, seed, options)
    if source.startswith(LOCAL_SOURCES):  # the path, resolved, in memory only (see data.handle)
        kind, path = source.split(":", 1)
        source = f"{kind}:{Path(path).expanduser().resolve()}"
    elif source.lower() in medmnist.FLAGS:
        source = source.lower()
    loaded.handle = DatasetHandle(loaded.name, image_size=image_size, seed=seed, options=options, source=source)
    return loaded


def _pass_the_folder_again(name: str) -> DataError:
    return DataError(
        f"{name!r} is the id of a folder of your own images. The kit never stores folder paths "
        "(not in runs, caches or pickles), so it cannot find that folder again from its id: pass "
        "the folder again — data.load_dataset('folder:/path/to/scans', ...) (or "
        "'folder-pairs:/path') — or, in the session that loaded it, its handle (imageset.handle). "
        "Evaluating a run of your own data: evaluate_run(run, real_train=..., real_test=...)."
    )


def _load(source: str, image_size: int, split: str, seed: int, options: dict) -> ImageSet:
    _check_split(split)
    if not isinstance(source, str):
        raise DataError(f"source must be a string or a DatasetHandle, got {type(source).__name__}")
    if source == BRAIN_MRI:
        if options:
            raise DataError(f"brain-mri takes no extra options; got {sorted(options)}")
        return brain.load(image_size, split, seed)
    if source == BRAIN_MRI_PAIRS:
        _check_options(source, options, ("task",))
        return pairs.load_brain_pairs(image_size, split, seed, **options)
    if source == BRAIN_MRI_SEG:
        if options:
            raise DataError(f"brain-mri-seg takes no extra options; got {sorted(options)}")
        return brain_seg.load(image_size, split, seed)
    if source.startswith("folder-pairs:"):
        _check_options(source, options, (*FOLDER_OPTIONS, *MASK_OPTIONS))
        return pairs.load_folder_pairs(source[len("folder-pairs:") :], image_size, split, seed, **options)
    if source.startswith("folder:"):
        _check_options(source, options, FOLDER_OPTIONS)
        return folder.load(source[len("folder:") :], image_size, split, seed, **options)
    if folder.ID_PATTERN.fullmatch(source) or pairs.ID_PATTERN.fullmatch(source):
        raise _pass_the_folder_again(source)
    if source.lower() in medmnist.FLAGS:
        _check_options(source, options, MEDMNIST_OPTIONS)
        return medmnist.load(source.lower(), image_size, split, **options)
    hint = ""
    if source.lower().endswith("mnist3d") or source.lower() in medmnist.FLAGS_3D:
        hint = " 3-D MedMNIST sets are not supported (this kit generates 2-D images)."
    raise DataError(
        f"Unknown dataset source {source!r}.{hint} Valid sources: "
        f"{', '.join(available_sources())} (e.g. 'folder:/path/to/scans')."
    )
