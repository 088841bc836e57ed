"""``ImageSet`` -> ``tf.data.Dataset``: uint8 kept as long as possible, big sets streamed.

:func:`to_tf_dataset` caches uint8 pixels, shuffles with a seed, batches and
converts each batch to float32 in [-1, 1] with the same formula as
:func:`medgan_helpers.data.imageset.to_float` (written as TensorFlow ops here,
because it runs inside the graph). Sets larger than ``STREAM_THRESHOLD_BYTES``
are streamed batch by batch, reading rows of a memory-mapped ``.npy`` with
``os.pread`` so the process stays small.
"""

from __future__ import annotations

import os

import numpy as np

from medgan_helpers.data.imageset import PIXEL_SCALE, DataError, ImageSet

#: Sets whose pixels are bigger than this are streamed batch by batch (from the memory
#: map when there is one) instead of being cached in memory.
STREAM_THRESHOLD_BYTES = 1024**3


def _file_row_reader(pixels: np.ndarray):
    """For a C-contiguous memory-mapped ``.npy``: read rows with ``os.pread`` instead.

    Reading through the memory map would leave every touched page mapped into this
    process (its RSS grows to the size of the file over an epoch); ``pread`` goes
    through the page cache only, so the process stays small. Returns None when the
    array is not a plain memory-mapped file (then the memory map is indexed).
    """
    filename = getattr(pixels, "filename", None)
    if not isinstance(pixels, np.memmap) or filename is None or not pixels.flags.c_contiguous:
        return None
    row = int(np.prod(pixels.shape[1:]))
    offset = int(pixels.offset)
    shape = pixels.shape[1:]

    def read_rows(idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), row), dtype=np.uint8)
        with open(filename, "rb") as fh:
            for j, i in enumerate(idx):
                out[j] = np.frombuffer(os.pread(fh.fileno(), row, offset + int(i) * row), np.uint8)
        return out.reshape(len(idx), *shape)

    try:  # make sure offset and layout are what we think (first and last image)
        ends = np.array([0, len(pixels) - 1])
        if not np.array_equal(read_rows(ends), np.asarray(pixels[ends])):
            return None
    except (OSError, ValueError):
        return None
    return read_rows


def to_tf_dataset(
    imageset: ImageSet,
    batch_size: int = 64,
    seed: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = True,
    *,
    include_labels: bool | None = None,
    cache: bool = True,
):
    """A ``tf.data.Dataset`` of float32 [-1, 1] image batches (and labels when present).

    The pipeline keeps uint8 pixels as long as possible: cache (uint8) -> shuffle
    (seeded, reshuffled every epoch, same order for the same seed) -> batch ->
    convert to float32 [-1, 1] -> prefetch(AUTOTUNE). Sets larger than
    ``STREAM_THRESHOLD_BYTES`` (1 GB of uint8) are streamed instead: shuffled
    indices are gathered batch by batch (with ``pread`` from a memory-mapped file),
    so RAM stays small; the order is the same kind of seeded shuffle.

    Yields ``images`` or ``(images, labels)``; labels are int64 (``(B,)`` or
    ``(B, L)`` multi-hot). ``include_labels=False`` drops them.
    """
    import tensorflow as tf

    if not isinstance(imageset, ImageSet):
        hint = (" A paired set (brain-mri-pairs, folder-pairs) makes its own pipeline: "
                "pairs.to_tf_dataset(batch_size=...)." if hasattr(imageset, "inputs") else "")
        raise TypeError(f"to_tf_dataset needs an ImageSet, got {type(imageset).__name__}.{hint}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(imageset)
    if n == 0:
        raise DataError(f"{imageset.name} ({imageset.split}) has no images to put in a tf.data pipeline")
    if drop_remainder and n < batch_size:
        raise DataError(
            f"{imageset.name} ({imageset.split}) has {n} images, fewer than batch_size="
            f"{batch_size}, and drop_remainder=True would leave no batch. Use a smaller "
            "batch_size or drop_remainder=False."
        )
    with_labels = imageset.labels is not None if include_labels is None else include_labels
    if with_labels and imageset.labels is None:
        raise DataError(f"{imageset.name} has no labels; use include_labels=False")
    labels = None if not with_labels else np.asarray(imageset.labels).astype(np.int64)
    shape = tuple(int(d) for d in imageset.pixels.shape[1:])

    def to_float(pix):  # imageset.to_float, as graph ops
        return tf.cast(pix, tf.float32) / PIXEL_SCALE - 1.0

    streamed = imageset.pixels.nbytes > STREAM_THRESHOLD_BYTES
    if not streamed:
        pixels = np.ascontiguousarray(imageset.pixels)
        ds = tf.data.Dataset.from_tensor_slices(pixels if labels is None else (pixels, labels))
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if labels is None:
            ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(
                lambda p, y: (to_float(p), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
            )
        return ds.prefetch(tf.data.AUTOTUNE)

    source = imageset.pixels
    read_rows = _file_row_reader(source)

    def gather(idx: np.ndarray) -> np.ndarray:
        order = np.argsort(idx)  # sequential reads, then restore the shuffled order
        out = np.empty((len(idx), *shape), dtype=np.uint8)
        out[order] = source[idx[order]] if read_rows is None else read_rows(idx[order])
        return out

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    label_tensor = None if labels is None else tf.constant(labels)

    def load_batch(idx):
        pix = tf.numpy_function(gather, [idx], tf.uint8)
        pix.set_shape((batch_size if drop_remainder else None, *shape))
        images = to_float(pix)
        if label_tensor is None:
            return images
        return images, tf.gather(label_tensor, idx)

    ds = ds.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
