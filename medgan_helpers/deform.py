"""Elastic and affine deformations that move an image and its label map together.

One deformation is one sampling grid: for every output pixel, the (row, column) of
the input it comes from. The image is sampled there with linear interpolation
(``order=1``), the label map with **nearest neighbour** (``order=0``) on the very
same grid, so the two stay aligned and every label stays one of the input's labels
(never a blend such as 1.5). That is how new anatomy variants are made from real
training masks (and, as a control, how real pairs are augmented without a generator).

The grid is an affine map (rotation, zoom, shear, shift, about the image centre)
composed with an elastic displacement field (Simard et al., 2003: uniform random
displacements, Gaussian-smoothed, scaled to a chosen RMS size in pixels).

:func:`deformation_grid` makes a grid, :func:`warp` applies one to a 2-D array,
:func:`deform_pair` moves one image and its mask, :func:`deform_pairs` makes
``copies`` deformed versions of every pair of a set, reproducibly from a seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class DeformSettings:
    """How strong the random deformations are (sizes as fractions of the image side)."""

    max_rotation_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shear_deg: float = 5.0
    max_shift: float = 0.05  # of the image side
    elastic_rms: float = 0.015  # RMS displacement, of the image side (1 px at 64 px)
    elastic_sigma: float = 0.08  # smoothness of the displacement field, of the image side

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range={self.scale_range!r} must be (low, high) with 0 < low <= high.")
        for name in ("max_rotation_deg", "max_shear_deg", "max_shift", "elastic_rms", "elastic_sigma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0.")

    def to_dict(self) -> dict:
        """A JSON-friendly copy."""
        return asdict(self)


def deformation_grid(size: int, rng: np.random.Generator, settings: DeformSettings = DeformSettings()) -> np.ndarray:
    """A random sampling grid (2 × size × size, float64: input row and column of every output pixel)."""
    from scipy import ndimage

    centre = (size - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(size, dtype=np.float64) - centre,
                             np.arange(size, dtype=np.float64) - centre, indexing="ij")
    angle = np.deg2rad(rng.uniform(-settings.max_rotation_deg, settings.max_rotation_deg))
    shear = np.deg2rad(rng.uniform(-settings.max_shear_deg, settings.max_shear_deg))
    scale = rng.uniform(*settings.scale_range)
    shift = rng.uniform(-settings.max_shift, settings.max_shift, 2) * size
    # output -> input: the inverse of "zoom by scale, then shear, then rotate"
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    sheared = np.array([[1.0, np.tan(shear)], [0.0, 1.0]])
    matrix = np.linalg.inv(rotate @ sheared * scale)
    grid = np.einsum("ij,jhw->ihw", matrix, np.stack([rows, cols])) + centre - shift[:, None, None]
    if settings.elastic_rms > 0:
        noise = rng.uniform(-1.0, 1.0, (2, size, size))
        field = np.stack([ndimage.gaussian_filter(n, settings.elastic_sigma * size, mode="reflect") for n in noise])
        rms = float(np.sqrt((field**2).sum(axis=0).mean()))
        grid = grid + field * (settings.elastic_rms * size / max(rms, 1e-12))
    return grid


def warp(array: np.ndarray, grid: np.ndarray, *, order: int, fill: float = 0.0) -> np.ndarray:
    """Sample a 2-D array (or H×W×C, channel by channel) at ``grid``; outside the input: ``fill``.

    ``order=0`` (nearest neighbour) returns values of ``array`` only, in its dtype: use it
    for label maps. ``order=1`` interpolates linearly (images).
    """
    from scipy import ndimage

    array = np.asarray(array)
    if array.ndim == 3:
        return np.stack([warp(array[..., c], grid, order=order, fill=fill) for c in range(array.shape[-1])], -1)
    if array.ndim != 2 or grid.shape != (2, *array.shape):
        raise ValueError(f"warp needs an H×W array and a 2×H×W grid, got {array.shape} and {grid.shape}.")
    if order == 0:  # exact nearest neighbour in the input's own dtype: labels stay labels
        return ndimage.map_coordinates(array, grid, order=0, mode="constant", cval=fill, output=array.dtype)
    return ndimage.map_coordinates(array.astype(np.float32), grid, order=order, mode="constant", cval=fill)


def deform_pair(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                settings: DeformSettings = DeformSettings(), *, image_fill: float = -1.0,
                image_order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One random deformation applied to an image (S×S or S×S×C) and its label map (S×S), alike.

    ``image_fill``: the image's value outside the field of view (-1 = black in the kit's
    [-1, 1] scale); the mask gets 0 (background) there.
    """
    image, mask = np.asarray(image), np.asarray(mask)
    if image.shape[:2] != mask.shape or mask.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image (S×S or S×S×C) and mask (S×S) must be square and of one size, got "
                         f"{image.shape} and {mask.shape}.")
    if mask.dtype.kind not in "uib":
        raise ValueError(f"the mask must hold integer labels, got {mask.dtype}.")
    grid = deformation_grid(mask.shape[0], rng, settings)
    return warp(image, grid, order=image_order, fill=image_fill).astype(np.float32), warp(mask, grid, order=0)


def deform_pairs(images: np.ndarray, masks: np.ndarray, *, copies: int = 1, seed: int = 0,
                 settings: DeformSettings = DeformSettings(), image_fill: float = -1.0,
                 image_order: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``copies`` deformed versions of every (image, mask) pair: images, masks, and each one's source index.

    Images N×S×S×C (float, e.g. [-1, 1]), masks N×S×S integer labels. The same ``seed``
    gives the same deformations. Output order: copy 0 of every pair, then copy 1, …
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f"images must be N×S×S×C and masks N×S×S of the same N and S, got {images.shape} "
                         f"and {masks.shape}.")
    if copies < 1:
        raise ValueError(f"copies={copies} must be >= 1.")
    rng = np.random.default_rng(seed)
    out_images = np.empty((copies * len(images), *images.shape[1:]), np.float32)
    out_masks = np.empty((copies * len(masks), *masks.shape[1:]), masks.dtype)
    source = np.tile(np.arange(len(images)), copies)
    for i, j in enumerate(source):
        out_images[i], out_masks[i] = deform_pair(images[j], masks[j], rng, settings, image_fill=image_fill,
                                                  image_order=image_order)
    return out_images, out_masks, source
