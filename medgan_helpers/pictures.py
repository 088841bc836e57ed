"""Image arrays in [-1, 1] -> pictures: grids, strips, PNG bytes and PNG files.

Every picture the kit stores or shows goes through here, and every [-1, 1] ->
uint8 conversion through ``data.to_uint8`` (the one place that rounds and clips).
PNG files are written atomically (a temporary file, then ``os.replace``), so an
interrupted save never leaves half a picture behind.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from pathlib import Path

import numpy as np

from medgan_helpers.data.imageset import to_uint8


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile N images in [-1, 1] (N×H×W×C) into one uint8 picture (rows × columns, black gaps)."""
    pixels = to_uint8(images)
    n, h, w, c = pixels.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid[..., 0] if c == 1 else grid


def image_strip(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """Lay K images (K×H×W×C, [-1, 1]) side by side with white gaps of ``gap`` px ([-1, 1] out)."""
    images = np.asarray(images, dtype=np.float32)
    k, h, w, c = images.shape
    strip = np.ones((h, k * w + (k - 1) * gap, c), dtype=np.float32)
    for i in range(k):
        strip[:, i * (w + gap) : i * (w + gap) + w] = images[i]
    return strip


def _as_picture(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = to_uint8(array)
    return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array


def to_png(image: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of one H×W(×C) image: float in [-1, 1] or uint8; nearest-neighbour upscaled."""
    from PIL import Image

    img = Image.fromarray(_as_picture(image))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    # compress_level=1: a 64 px PNG encodes in well under a millisecond (the sampler's sliders).
    img.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def from_png(png: bytes) -> np.ndarray:
    """Decode PNG bytes (e.g. an ``ipywidgets.Image`` value) to a uint8 H×W×C array."""
    from PIL import Image

    array = np.asarray(Image.open(io.BytesIO(png)))
    return array[..., None] if array.ndim == 2 else array


def write_atomic(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A crash or a full disk mid-write leaves the old file (or none), never a
    truncated one; the temporary file is removed on error. The file gets the
    permissions ``open()`` would give it (0o666 less the process umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = _create_temporary(path)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new, exclusively created temporary file beside ``path``: (open descriptor, its path).

    Created with mode 0o666 so the OS applies the umask, as for any file a user
    writes (``tempfile.mkstemp`` would make it 0600, unreadable to the group a
    run or an export is shared with). Reading the umask instead would mean
    setting it, a process-wide change that races with other threads.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # another writer drew the same name: draw again
            continue


def save_png(picture: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Write an image (uint8, or float in [-1, 1]) as a PNG file, atomically, upscaled by ``scale``."""
    return write_atomic(path, to_png(picture, scale=scale))
