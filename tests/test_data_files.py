"""folder: special files are never read, and big multi-page files stay under the memory bound.

The memory tests run the loader in a fresh Python process and compare its peak resident
memory (VmHWM) before and after the load with ``readers.memory_bound`` of one page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from test_privacy import blob_png, write_mr

from medgan_helpers import data
from medgan_helpers.data import readers

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def load_with_timeout(source, seconds=60, **kwargs):
    """Load in a thread; fail (instead of hanging the suite) if it does not return in time."""
    result = {}

    def run():
        try:
            result["ds"] = data.load_dataset(source, image_size=32, **kwargs)
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the loader blocked for {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["ds"]


def test_fifo_and_socket_named_like_images_are_skipped_not_read(cache):
    root = Path(tempfile.mkdtemp(prefix="medgan-special-"))  # short path: AF_UNIX limit
    try:
        for i in range(3):
            blob_png(root / "cls" / f"{i}.png", seed=i)
        os.mkfifo(root / "cls" / "scan.png")
        os.mkfifo(root / "cls" / "IM0001")  # extension-less: would be probed for "DICM"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(root / "cls" / "sock.dcm"))
        try:
            ds = load_with_timeout(f"folder:{root}")
        finally:
            server.close()
        assert len(ds) + sum(ds.card().counts[s]["cls"] for s in ("val", "test")) == 3
        reasons = {ds.report.local_path(item): reason for item, reason in ds.report.skipped}
        assert "FIFO" in reasons["cls/scan.png"] and "never opened" in reasons["cls/scan.png"]
        assert "FIFO" in reasons["cls/IM0001"]
        assert "socket" in reasons["cls/sock.dcm"]
    finally:
        for path in sorted(root.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
        root.rmdir()


def test_open_regular_refuses_devices():
    with pytest.raises(readers.NotRegularFile, match="character device"):
        readers.open_regular(Path("/dev/null"))


MEASURE = textwrap.dedent(
    """
    import sys
    import PIL.Image, PIL.TiffImagePlugin, pydicom, pydicom.pixels, nibabel  # imports are not the load
    from medgan_helpers import data

    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024

    before = peak_mb()
    ds = data.load_dataset("folder:" + sys.argv[1], image_size=64, split_fractions=(1.0, 0.0, 0.0))
    print(len(ds), peak_mb() - before)
    """
)


def peak_growth_mb(folder, cache) -> tuple[int, float]:
    env = {**os.environ, "MEDGAN_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    n, growth = out.stdout.split()[-2:]
    return int(n), float(growth)


def test_multipage_tiff_is_streamed_page_by_page(tmp_path, cache):
    """30 pages of 4000×4000 (under 1 MB on disk): holding them all would take ~1 GB."""
    side, count = 4000, 30
    ramp = (np.linspace(0, 100, side, dtype=np.float32)[:, None] * np.ones((1, side), np.float32)).astype(np.uint8)

    def pages():
        for i in range(count):
            page = ramp.copy()
            page[500 + 50 * i : 1500 + 50 * i, 1000:3000] = 200
            yield Image.fromarray(page)

    (tmp_path / "tiff").mkdir()
    stack = pages()
    next(stack).save(tmp_path / "tiff" / "stack.tif", save_all=True, append_images=stack,
                     compression="tiff_deflate")
    assert (tmp_path / "tiff" / "stack.tif").stat().st_size < 2 * 1024**2
    n, growth = peak_growth_mb(tmp_path / "tiff", cache)
    assert n == count
    bound = readers.memory_bound(side * side) / 1024**2  # one page: 20 B/px + 64 MB
    assert growth < bound, f"peak grew by {growth:.0f} MB, bound {bound:.0f} MB"
    assert bound < count * side * side / 1024**2  # the bound is below holding every page once


def test_multiframe_dicom_is_streamed_frame_by_frame(tmp_path, cache):
    side, frames = 1024, 60
    path = tmp_path / "mf" / "cine.dcm"
    write_mr(path, size=side)
    ds = pydicom.dcmread(path)
    yy, xx = np.mgrid[:side, :side]
    stack = np.stack([(200 + xx // 8 + 1500 * (((yy - 300 - 5 * i) / 100) ** 2 + ((xx - 500) / 150) ** 2 < 1))
                      for i in range(frames)]).astype(np.uint16)
    ds.NumberOfFrames = frames
    ds.PixelData = stack.tobytes()
    ds.save_as(path)
    del ds, stack
    n, growth = peak_growth_mb(tmp_path / "mf", cache)
    assert n == frames
    bound = readers.memory_bound(side * side) / 1024**2
    assert growth < bound, f"peak grew by {growth:.0f} MB, bound {bound:.0f} MB"
    assert bound < frames * side * side * 2 / 1024**2  # below the raw pixels of all frames


def test_oversized_page_is_skipped_with_the_reason(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(readers, "MAX_PAGE_PIXELS", 50 * 50)
    for i in range(2):
        blob_png(tmp_path / "s" / f"{i}.png", seed=i)  # 40×40: fine
    Image.fromarray(np.tile(np.arange(80, dtype=np.uint8), (80, 1))).save(tmp_path / "s" / "big.png")
    ds = data.load_dataset(f"folder:{tmp_path / 's'}", image_size=16, split_fractions=(1.0, 0.0, 0.0))
    assert len(ds) == 2
    reason = dict((ds.report.local_path(i), r) for i, r in ds.report.skipped)["big.png"]
    assert "megapixel limit" in reason
