"""Deformations move an image and its label map together, and labels stay labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medgan_helpers import deform

SCALE = 40.0


def label_map(size: int = 32) -> np.ndarray:
    """Nested squares and a bar: labels 0-3, edges in both directions."""
    mask = np.zeros((size, size), np.uint8)
    mask[6:26, 5:27] = 1
    mask[10:20, 9:22] = 2
    mask[13:16, 4:30] = 3
    return mask


def test_image_equal_to_its_mask_scaled_stays_equal_under_nearest_sampling():
    mask = label_map()
    image = (mask * SCALE)[..., None]
    images, masks, source = deform.deform_pairs(image[None], mask[None], copies=4, seed=5, image_fill=0.0,
                                                image_order=0)
    assert source.tolist() == [0, 0, 0, 0] and masks.dtype == np.uint8
    assert np.array_equal(images[..., 0], masks * SCALE)  # the same grid for both, pixel for pixel
    assert all(not np.array_equal(m, mask) for m in masks)  # and they did move
    assert len({m.tobytes() for m in masks}) == 4  # four different deformations


def test_linear_image_matches_the_mask_wherever_the_neighbourhood_has_one_label():
    mask = label_map()
    image = mask * SCALE
    grid = deform.deformation_grid(32, np.random.default_rng(2))
    warped, labels = deform.warp(image, grid, order=1), deform.warp(mask, grid, order=0)
    # where the 3×3 input neighbourhood of the nearest pixel holds one label, so do the 4 pixels
    # linear interpolation mixes: there the image must equal its mask scaled, exactly
    uniform = deform.warp(ndimage.maximum_filter(mask, 3), grid, order=0) == deform.warp(
        ndimage.minimum_filter(mask, 3), grid, order=0)
    inside = (grid >= 1).all(0) & (grid <= 30).all(0)
    check = uniform & inside
    assert check.sum() > 300
    assert np.allclose(warped[check], labels[check] * SCALE, atol=1e-4)
    # elsewhere the image is a blend of neighbouring labels, never farther than one label step
    assert np.abs(warped / SCALE - labels).max() <= mask.max()


def test_labels_stay_integer_and_from_the_input_set():
    mask = label_map()
    mask[mask == 2] = 7  # labels need not be consecutive
    image = np.random.default_rng(0).uniform(-1, 1, (32, 32, 2)).astype(np.float32)
    for seed in range(3):
        img, out = deform.deform_pair(image, mask, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1, 3, 7}
        assert img.shape == (32, 32, 2) and img.dtype == np.float32
        assert img.min() >= -1.0 - 1e-6 and img.max() <= 1.0 + 1e-6  # linear: no overshoot
    outside = deform.deform_pair(image, mask, np.random.default_rng(0),
                                 deform.DeformSettings(max_shift=0.5, scale_range=(0.5, 0.5)))
    assert (outside[1] == 0).sum() > 0 and (outside[0] == -1.0).sum() > 0  # filled: background, black


def test_no_deformation_is_the_identity_and_seeds_repeat():
    still = deform.DeformSettings(max_rotation_deg=0, scale_range=(1, 1), max_shear_deg=0, max_shift=0,
                                  elastic_rms=0)
    mask = label_map()
    image = np.linspace(-1, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    img, out = deform.deform_pair(image, mask, np.random.default_rng(0), still)
    assert np.array_equal(out, mask) and np.allclose(img, image, atol=1e-6)
    a = deform.deform_pairs(image[None, ..., None], mask[None], copies=2, seed=9)
    b = deform.deform_pairs(image[None, ..., None], mask[None], copies=2, seed=9)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    grid = deform.deformation_grid(64, np.random.default_rng(1), deform.DeformSettings(
        max_rotation_deg=0, scale_range=(1, 1), max_shear_deg=0, max_shift=0, elastic_rms=0.02))
    identity = np.stack(np.meshgrid(np.arange(64), np.arange(64), indexing="ij")).astype(float)
    rms = np.sqrt(((grid - identity) ** 2).sum(0).mean())
    assert rms == pytest.approx(0.02 * 64)  # the elastic field has the asked-for size


def test_bad_inputs_say_what_is_wrong():
    mask = label_map()
    with pytest.raises(ValueError, match="integer labels"):
        deform.deform_pair(mask * 1.0, mask * 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one size"):
        deform.deform_pair(np.zeros((16, 16)), mask, np.random.default_rng(0))
    with pytest.raises(ValueError, match="copies"):
        deform.deform_pairs(mask[None, ..., None] * 1.0, mask[None], copies=0)
    with pytest.raises(ValueError, match="scale_range"):
        deform.DeformSettings(scale_range=(1.2, 0.8))
