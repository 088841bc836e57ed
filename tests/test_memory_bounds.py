"""folder: tiny files that decode to huge arrays stay under the documented memory bound.

Two files of under a megabyte used to cost hundreds of megabytes: a 2×20000 PNG (the
padding canvas was max(w, h)² pixels) and a 256³ ``.nii.gz`` (the whole volume was read
as floats, then copied for every step). The loads run in a fresh Python process that
has imported the same modules; its peak resident memory (VmHWM) before and after the
load is compared with ``readers.memory_bound`` / ``readers.nifti_memory_bound``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from test_data_files import peak_growth_mb
from test_privacy import blob_png

from medgan_helpers import data
from medgan_helpers.data import readers

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def ball_volume(side: int, dtype=np.int16) -> np.ndarray:
    """A bright ellipsoid with a gentle ramp in a dark cube (compresses to almost nothing)."""
    axis = np.arange(side, dtype=np.float32) / side
    x, y, z = axis[:, None, None], axis[None, :, None], axis[None, None, :]
    ball = ((x - 0.5) / 0.4) ** 2 + ((y - 0.5) / 0.35) ** 2 + ((z - 0.5) / 0.3) ** 2 < 1
    return np.where(ball, 800 + np.rint(200 * x), 0).astype(dtype)


def test_thin_png_stays_under_the_bound_of_its_own_pixels(tmp_path, cache):  # noqa: F811
    folder = tmp_path / "thin"
    folder.mkdir()
    strip = np.tile(np.linspace(20, 230, 20000).astype(np.uint8)[:, None], (1, 2))  # 20000 rows × 2
    Image.fromarray(strip).save(folder / "strip.png", optimize=True)
    assert (folder / "strip.png").stat().st_size < 2000
    n, growth = peak_growth_mb(folder, cache)
    assert n == 1
    bound = readers.memory_bound(strip.size) / 1024**2  # 20 B/px of 40,000 pixels + 64 MB
    assert growth < bound, f"peak grew by {growth:.0f} MB, bound {bound:.0f} MB"


def test_large_nifti_is_read_slice_by_slice_under_the_bound(tmp_path, cache):  # noqa: F811
    folder = tmp_path / "vol"
    folder.mkdir()
    side = 256
    nib.save(nib.Nifti1Image(ball_volume(side), np.eye(4)), folder / "big.nii.gz")
    assert (folder / "big.nii.gz").stat().st_size < 2 * 1024**2
    n, growth = peak_growth_mb(folder, cache)
    assert n > side // 4  # the slices through the middle of the ball
    bound = readers.nifti_memory_bound((side, side, side)) / 1024**2
    assert growth < bound, f"peak grew by {growth:.0f} MB, bound {bound:.0f} MB"


def test_nifti_above_the_voxel_limit_is_skipped_from_its_header(tmp_path, cache):  # noqa: F811
    """A header claiming 2000³ voxels is refused before a byte of its data is read."""
    folder = tmp_path / "claims"
    for i in range(2):
        blob_png(folder / f"{i}.png", seed=i)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape((2000, 2000, 2000))
    with gzip.open(folder / "huge.nii.gz", "wb") as fh:  # a header and 1 kB of "data"
        fh.write(header.binaryblock + b"\0" * 4 + b"\x07" * 1024)
    ds = data.load_dataset(f"folder:{folder}", image_size=16, split_fractions=(1.0, 0.0, 0.0))
    assert len(ds) == 2
    reason = dict((ds.report.local_path(i), r) for i, r in ds.report.skipped)["huge.nii.gz"]
    assert "2000×2000×2000" in reason and "voxel limit" in reason and "downsample" in reason


def test_voxel_limit_counts_the_first_volume_of_a_4d_file(tmp_path, cache, monkeypatch):  # noqa: F811
    folder = tmp_path / "four"
    folder.mkdir()
    vol = ball_volume(20)
    nib.save(nib.Nifti1Image(np.stack([vol, vol], axis=-1), np.eye(4)), folder / "t.nii")
    monkeypatch.setattr(readers, "MAX_VOLUME_VOXELS", 20**3)  # exactly one volume: allowed
    assert len(data.load_dataset(f"folder:{folder}", image_size=16, split_fractions=(1.0, 0.0, 0.0))) > 0
    monkeypatch.setattr(readers, "MAX_VOLUME_VOXELS", 20**3 - 1)
    with pytest.raises(data.DataError, match="voxel limit"):  # another size: not the memo of the first load
        data.load_dataset(f"folder:{folder}", image_size=24, split_fractions=(1.0, 0.0, 0.0))


def whole_volume_slices(path: Path, axis: int, image_size: int) -> list[np.ndarray]:
    """The slices as reading the whole volume gives them (the reference for the streamed reader)."""
    img = nib.as_closest_canonical(nib.load(path))
    volume = np.asarray(img.dataobj, dtype=np.float32)
    lo, hi = np.percentile(volume, [0.5, 99.5])
    unit = np.clip((volume - lo) / (hi - lo), 0.0, 1.0)
    zooms = img.header.get_zooms()[:3]
    in_plane = [zooms[i] for i in range(3) if i != axis]
    out = []
    for k in range(unit.shape[axis]):
        plane = np.take(unit, k, axis=axis)
        if (plane > 0.1).mean() >= readers.NEAR_EMPTY_FRACTION:
            plane = readers.unit_to_uint8(np.rot90(plane))
            out.append(readers.pad_to_square_and_resize(plane, image_size, in_plane[0] / in_plane[1]))
    return out


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_streamed_nifti_equals_reading_the_whole_volume(tmp_path, cache, axis):  # noqa: F811
    """Oblique storage (axes permuted and flipped), scaled integers, anisotropic voxels."""
    folder = tmp_path / "oblique"
    folder.mkdir()
    vol = ball_volume(24)[:, 3:, 5:] + np.arange(24, dtype=np.int16)[:, None, None]  # 24×21×19
    affine = np.array([[0, 0, -1.5, 10], [2.0, 0, 0, -4], [0, 0.8, 0, 3], [0, 0, 0, 1]])
    img = nib.Nifti1Image(vol, affine)
    img.header.set_slope_inter(0.5, -40.0)
    nib.save(img, folder / "obl.nii.gz")
    scan = readers.ScanResult(32)
    entry = readers.FileEntry(folder / "obl.nii.gz", "file-x", None)
    opts = {"modality": "MR", "ct_window": "auto", "mr_percentiles": (0.5, 99.5), "nifti_axis": axis}
    readers.read_nifti(entry, opts, scan)
    assert not scan.skipped
    expected = whole_volume_slices(folder / "obl.nii.gz", axis, 32)
    assert len(scan.slices) == len(expected) > 5
    for got, want in zip(scan.slices, expected):
        assert np.abs(got.pixels.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("shape", [(20, 100), (100, 20), (3, 400), (400, 3)])
def test_padding_without_a_big_canvas_looks_like_padding_with_one(shape):
    """Beyond 2:1 the content is resized first, then padded: the picture is the same."""
    rng = np.random.default_rng(0)
    pixels = (60 + rng.integers(0, 150, shape)).astype(np.uint8)
    h, w = shape
    side = max(h, w)
    canvas = Image.new("L", (side, side), 0)
    canvas.paste(Image.fromarray(pixels), ((side - w) // 2, (side - h) // 2))
    old = np.asarray(canvas.resize((40, 40), Image.LANCZOS)).astype(int)
    new = readers.pad_to_square_and_resize(pixels, 40).astype(int)
    assert new.shape == (40, 40)
    assert abs(new.mean() - old.mean()) < 3
    inside = old > 0
    assert (new[~inside] == 0).mean() > 0.9  # the padding stays black
