"""The embedded ``brain-mri`` dataset: 2-D slices resampled from the MNI ICBM152 template.

The MNI ICBM152 2009a nonlinear symmetric T1 template ships inside the ``nilearn``
wheel, so this dataset needs no network. It is the voxel-wise average of 152
registered adult brains: real MRI, but smoother and more symmetric than any
single patient's scan.

Every image is a genuine resampling of that volume (trilinear interpolation with
:func:`scipy.ndimage.map_coordinates`) through a slightly oblique plane: a small
tilt about the left-right and the front-back axes, an in-plane rotation, a zoom
and a shift. Nothing is painted or synthesised.

Splits come from *disjoint blocks of axial slice positions*: each anatomical
level is cut into four blocks, two for train, one for val, one for test, with a
guard gap between neighbouring blocks, so a test image is never a near-copy of a
training image. Labels are the anatomical level of the slice centre.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from medgan_helpers import config
from medgan_helpers.data import cachefiles
from medgan_helpers.data.imageset import (
    SPLITS,
    DataError,
    DatasetCard,
    ImageSet,
    LoadReport,
    class_counts,
)

#: Bump when the recipe changes: it is part of the cache key.
VERSION = 1
SIZES = (32, 64, 128)
BRAIN_MRI = "brain-mri"
#: Images per class and split (4 classes -> 2400 train, 400 val, 600 test).
PER_CLASS = {"train": 600, "val": 100, "test": 150}

CLASS_NAMES = [
    "cerebellum / brainstem",
    "basal ganglia / ventricles",
    "centrum semiovale",
    "vertex",
]
#: Axial MNI z ranges (mm) of the four levels, inferior to superior.
LEVELS_MM = [(-58.0, -14.0), (-14.0, 20.0), (20.0, 46.0), (46.0, 74.0)]
#: Block roles (and relative block lengths) inside each level; rotated per level so
#: the test block is not always at the same place within a level.
_BLOCK_ROLES = [("train", 0.32), ("test", 0.2), ("train", 0.32), ("val", 0.16)]
#: Slices are drawn at least this far (mm) from a block edge -> >= 3 mm between splits.
GUARD_MM = 1.5
FOV_MM = 200.0
MAX_PITCH_DEG = 4.0  # tilt about the left-right axis
MAX_ROLL_DEG = 3.0  # tilt about the front-back axis
MAX_ROTATION_DEG = 10.0  # in-plane rotation
SCALE_RANGE = (0.93, 1.07)
MAX_SHIFT_MM = 4.0

LICENCE = "ICBM 2009a copyright notice (free use, notice kept; see below)"
COPYRIGHT_NOTICE = (
    "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
    "Neurological Institute, McGill University. Permission to use, copy, modify, and "
    "distribute this software and its documentation for any purpose and without fee is "
    "hereby granted, provided that the above copyright notice appear in all copies. The "
    "authors and McGill University make no representations about the suitability of this "
    "software for any purpose. It is provided 'as is' without express or implied warranty. "
    "The authors are not responsible for any data loss, equipment damage, property loss, "
    "or injury to subjects or patients resulting from the use or misuse of this software "
    "package."
)
CITATION = (
    "V.S. Fonov, A.C. Evans, R.C. McKinstry, C.R. Almli, D.L. Collins. Unbiased nonlinear "
    "average age-appropriate brain templates from birth to adulthood. NeuroImage 47 (2009) "
    "S102; and V. Fonov et al., NeuroImage 54(1) (2011) 313-327."
)


def level_of(z_mm: np.ndarray) -> np.ndarray:
    """Class id (0-3) of axial MNI positions ``z_mm``."""
    edges = [lo for lo, _ in LEVELS_MM[1:]]
    return np.searchsorted(edges, np.asarray(z_mm), side="right").astype(np.int64)


def split_blocks() -> dict[str, list[tuple[float, float]]]:
    """The usable z intervals (mm, guard gaps removed) of every split."""
    blocks: dict[str, list[tuple[float, float]]] = {s: [] for s in SPLITS}
    for level, (lo, hi) in enumerate(LEVELS_MM):
        roles = _BLOCK_ROLES[level % 4 :] + _BLOCK_ROLES[: level % 4]
        fractions = np.cumsum([0.0] + [w for _, w in roles])
        edges = lo + (hi - lo) * fractions / fractions[-1]
        for (role, _), a, b in zip(roles, edges[:-1], edges[1:]):
            blocks[role].append((float(a) + GUARD_MM, float(b) - GUARD_MM))
    return blocks


def cache_path(cache_dir: Path, image_size: int, seed: int) -> Path:
    """Where the built arrays for one (size, seed) pair are cached."""
    return Path(cache_dir) / "brain-mri" / f"brain-mri_v{VERSION}_{image_size}px_seed{seed}.npz"


def _load_volume() -> tuple[np.ndarray, np.ndarray]:
    """The T1 template as float32 in [0, 1] (robustly scaled) and its voxel->mm affine."""
    from nilearn import datasets

    img = datasets.load_mni152_template(resolution=1)
    volume = np.asarray(img.get_fdata(dtype=np.float32))
    brain = volume[volume > 0.05]
    top = float(np.percentile(brain, 99.5)) if brain.size else 1.0
    volume = np.clip(volume / max(top, 1e-6), 0.0, 1.0).astype(np.float32)
    return volume, np.asarray(img.affine, dtype=np.float64)


def _rotation(pitch: float, roll: float, theta: float) -> np.ndarray:
    """3x3 rotation: in-plane ``theta`` (about z), then ``roll`` (y), then ``pitch`` (x)."""
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(roll), np.sin(roll)
    cz, sz = np.cos(theta), np.sin(theta)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def _draw_parameters(rng: np.random.Generator, split: str) -> dict[str, np.ndarray]:
    """Slice positions (balanced per level) and the random plane of every image."""
    blocks = split_blocks()[split]
    z_parts = []
    for level in range(len(CLASS_NAMES)):
        mine = [(a, b) for a, b in blocks if level_of(np.array([(a + b) / 2]))[0] == level]
        lengths = np.array([b - a for a, b in mine])
        n = PER_CLASS[split]
        which = rng.choice(len(mine), size=n, p=lengths / lengths.sum())
        starts = np.array([mine[i][0] for i in which])
        z_parts.append(starts + rng.random(n) * lengths[which])
    z = np.concatenate(z_parts)
    n = z.size
    return {
        "z_mm": z,
        "pitch_deg": rng.uniform(-MAX_PITCH_DEG, MAX_PITCH_DEG, n),
        "roll_deg": rng.uniform(-MAX_ROLL_DEG, MAX_ROLL_DEG, n),
        "rotation_deg": rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, n),
        "scale": rng.uniform(*SCALE_RANGE, n),
        "shift_x_mm": rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, n),
        "shift_y_mm": rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, n),
    }


def resample(volume: np.ndarray, affine: np.ndarray, params: dict, image_size: int) -> np.ndarray:
    """Resample every requested oblique plane of ``volume`` (values in [0, 1]) into uint8 N x S x S.

    Shared by ``brain-mri`` (the T1 template) and ``brain-mri-pairs`` (T1, grey- and
    white-matter maps): the same planes give the same anatomy in every volume.
    """
    from scipy import ndimage

    n = params["z_mm"].size
    step = FOV_MM / image_size
    offsets = (np.arange(image_size) - (image_size - 1) / 2.0) * step
    # Image columns run along +x (patient left -> right), rows from anterior (top) to posterior.
    u, v = np.meshgrid(offsets, -offsets, indexing="xy")
    plane = np.stack([u.ravel(), v.ravel(), np.zeros(u.size)])  # 3 x P, mm
    inverse = np.linalg.inv(affine)
    centre_mm = np.array([0.0, -17.0])  # x, y of the brain's bounding-box centre in MNI space
    # Only points near the head are interpolated: outside the box of voxels that can still
    # round to a non-zero uint8 value, the result is 0 anyway (saves ~40 % of the work).
    idx = np.argwhere(volume > 0.4 / 255.0)
    box_lo = np.maximum(idx.min(axis=0) - 1, 0)
    box_hi = np.minimum(idx.max(axis=0) + 1, np.array(volume.shape) - 1)
    cropped = np.ascontiguousarray(
        volume[box_lo[0] : box_hi[0] + 1, box_lo[1] : box_hi[1] + 1, box_lo[2] : box_hi[2] + 1]
    )
    out = np.zeros((n, image_size, image_size), dtype=np.uint8)

    def one(i: int) -> None:
        rot = _rotation(
            np.deg2rad(params["pitch_deg"][i]),
            np.deg2rad(params["roll_deg"][i]),
            np.deg2rad(params["rotation_deg"][i]),
        )
        centre = np.array(
            [
                centre_mm[0] + params["shift_x_mm"][i],
                centre_mm[1] + params["shift_y_mm"][i],
                params["z_mm"][i],
            ]
        )
        mm = rot @ (plane / params["scale"][i]) + centre[:, None]
        vox = inverse[:3, :3] @ mm + inverse[:3, 3:4]
        inside = np.all((vox >= box_lo[:, None]) & (vox <= box_hi[:, None]), axis=0)
        values = ndimage.map_coordinates(
            cropped, vox[:, inside] - box_lo[:, None], order=1, mode="constant", cval=0.0
        )
        flat = out[i].reshape(-1)  # a view: writes go into out
        flat[inside] = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)

    for i in range(n):
        one(i)
    return out


def anti_alias(volume: np.ndarray, image_size: int) -> np.ndarray:
    """Blur a 1 mm volume to the output pixel spacing before sampling (sigma = (factor - 1) / 2)."""
    from scipy import ndimage

    factor = FOV_MM / image_size
    sigma = max(0.0, (factor - 1.0) / 2.0)
    if sigma > 0:
        volume = ndimage.gaussian_filter(volume, sigma).astype(np.float32)
    return volume


def draw_planes(seed: int) -> dict[str, dict[str, np.ndarray]]:
    """The random plane of every image of every split (float64), the same for every image size.

    ``brain-mri`` and ``brain-mri-pairs`` both resample these planes, so their
    images of one seed show the same anatomy, plane for plane.
    """
    rng = np.random.default_rng(seed)
    return {split: _draw_parameters(rng, split) for split in SPLITS}


def build(image_size: int, seed: int) -> dict[str, np.ndarray]:
    """Build all three splits for one size and seed (no caching). Keys ``{split}_pixels`` etc."""
    volume, affine = _load_volume()
    volume = anti_alias(volume, image_size)
    arrays: dict[str, np.ndarray] = {}
    for split, params in draw_planes(seed).items():
        arrays[f"{split}_pixels"] = resample(volume, affine, params, image_size)[..., None]
        arrays[f"{split}_labels"] = level_of(params["z_mm"])
        for key, value in params.items():
            arrays[f"{split}_{key}"] = value.astype(np.float32)
    return arrays


_PARAM_KEYS = ("z_mm", "pitch_deg", "roll_deg", "rotation_deg", "scale", "shift_x_mm", "shift_y_mm")


def _expected_layout(image_size: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """key -> (dtype, shape) of every array a valid cache file holds."""
    layout = {}
    for split in SPLITS:
        n = PER_CLASS[split] * len(CLASS_NAMES)
        layout[f"{split}_pixels"] = ("uint8", (n, image_size, image_size, 1))
        layout[f"{split}_labels"] = ("int64", (n,))
        for key in _PARAM_KEYS:
            layout[f"{split}_{key}"] = ("float32", (n,))
    return layout


def read_cache(path: Path, image_size: int) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None if it is missing, unreadable or not what it should be.

    Every member is read in full, so the zip CRC-32 of each array is checked: a
    truncated, zero-byte or bit-flipped file gives None (and is rebuilt), never an error.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        return None
    except Exception:  # BadZipFile, CRC errors, bad headers, EOF, ...: rebuild
        return None
    layout = _expected_layout(image_size)
    if set(arrays) != set(layout):
        return None
    for key, (dtype, shape) in layout.items():
        if arrays[key].dtype != np.dtype(dtype) or arrays[key].shape != shape:
            return None
    return arrays


def load_arrays(image_size: int, seed: int, cache_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Cached build: returns the arrays and a dict saying whether the cache was used.

    A missing or damaged cache file is (re)built under the entry's lock, so
    concurrent loaders build it once; it is written to a temporary file and
    published with ``os.replace`` (readers never see half a file, and a damaged
    file is replaced, never deleted under another reader).
    """
    path = cache_path(cache_dir, image_size, seed)
    arrays = read_cache(path, image_size)
    if arrays is not None:
        return arrays, {"cache": str(path), "from_cache": True, "build_seconds": None}
    with cachefiles.file_lock(path):
        arrays = read_cache(path, image_size)  # built by another process meanwhile?
        if arrays is not None:
            return arrays, {"cache": str(path), "from_cache": True, "build_seconds": None}
        cachefiles.remove_stale_temporaries(path.parent, path.name)
        start = time.perf_counter()
        arrays = build(image_size, seed)
        seconds = time.perf_counter() - start
        with cachefiles.temporary_file(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
    return arrays, {"cache": str(path), "from_cache": False, "build_seconds": seconds}


def load(image_size: int, split: str, seed: int = 0) -> ImageSet:
    """One split of brain-mri at ``image_size`` as an ImageSet (built once, then cached)."""
    if image_size not in SIZES:
        raise DataError(
            f"brain-mri has no image_size={image_size}. Valid sizes: "
            f"{', '.join(map(str, SIZES))}."
        )
    arrays, info = load_arrays(image_size, seed, config.cache_dir())
    names = CLASS_NAMES
    counts = {
        s: class_counts(arrays[f"{s}_labels"], names, len(arrays[f"{s}_labels"])) for s in SPLITS
    }
    report = LoadReport(BRAIN_MRI, split, loaded=len(arrays[f"{split}_labels"]))
    if info["from_cache"]:
        report.notes.append("read from the cache")
    else:
        report.notes.append(f"built from the MNI152 template in {info['build_seconds']:.1f} s")
    report.notes.append(f"licence: {LICENCE}")
    card = DatasetCard(
        name=BRAIN_MRI,
        source=(
            "MNI ICBM152 2009a nonlinear symmetric T1 template, 1 mm (shipped inside the "
            "nilearn wheel: nilearn.datasets.load_mni152_template(resolution=1), 197×233×189)"
        ),
        modality="MR (T1-weighted, skull-stripped population average)",
        licence=LICENCE,
        licence_text=COPYRIGHT_NOTICE,
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
            f"field of view {FOV_MM:.0f} mm",
            "stored as uint8 0-255; scaled to [-1, 1] on use",
            "splits from disjoint blocks of axial slice positions with >= 3 mm guard gaps: "
            + "; ".join(
                f"{s}: " + ", ".join(f"{a:.1f}..{b:.1f}" for a, b in blocks) + " mm"
                for s, blocks in split_blocks().items()
            ),
        ],
        citation=CITATION,
        notes=[
            "level boundaries (MNI z, mm): "
            + ", ".join(f"{n}: {lo:g}..{hi:g}" for n, (lo, hi) in zip(names, LEVELS_MM)),
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
