"""Tests for the embedded brain-mri source, ImageSet and the tf.data pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medgan_helpers import data
from medgan_helpers.data import brain, pipeline


@pytest.fixture(scope="module")
def brain_cache(tmp_path_factory):
    """A private cache so the tests build brain-mri for real (and in isolation)."""
    return tmp_path_factory.mktemp("brain-cache")


@pytest.fixture(scope="module")
def brain32(brain_cache):
    mp = pytest.MonkeyPatch()
    mp.setenv("MEDGAN_CACHE_DIR", str(brain_cache))
    try:
        yield {s: data.load_dataset("brain-mri", image_size=32, split=s, seed=0) for s in data.SPLITS}
    finally:
        mp.undo()


def test_brain_counts_labels_and_shapes(brain32):
    train, val, test = brain32["train"], brain32["val"], brain32["test"]
    assert len(train) >= 2000 and len(test) >= 500 and len(val) > 0
    for ds in brain32.values():
        assert ds.pixels.dtype == np.uint8 and ds.pixels.shape[1:] == (32, 32, 1)
        assert ds.labels.dtype == np.int64 and ds.labels.shape == (len(ds),)
        assert set(np.unique(ds.labels)) == {0, 1, 2, 3}  # every level in every split
        assert ds.class_names == brain.CLASS_NAMES
        assert ds.image_size == 32 and ds.channels == 1 and ds.name == "brain-mri"
    images = train.images
    assert images.dtype == np.float32 and images.min() >= -1.0 and images.max() <= 1.0
    assert images.min() == -1.0 and images.max() > 0.9  # black background, bright tissue


def test_brain_images_are_real_brain_slices(brain32):
    """Lower levels contain the small cerebellum, middle levels the widest brain section."""
    train = brain32["train"]
    area = (train.pixels[..., 0] > 40).mean(axis=(1, 2))
    by_level = [area[train.labels == c].mean() for c in range(4)]
    assert by_level[1] > by_level[0] and by_level[1] > by_level[3]
    assert all(0.03 < a < 0.8 for a in by_level)
    # no two training images are identical: each is its own resampling
    flat = train.pixels.reshape(len(train), -1)
    assert len({row.tobytes() for row in flat}) == len(train)


def test_brain_splits_come_from_disjoint_slice_blocks(brain32):
    z = {s: brain32[s].metadata["z_mm"] for s in data.SPLITS}
    for a in data.SPLITS:
        for b in data.SPLITS:
            if a < b:
                gap = np.abs(z[a][:, None] - z[b][None, :]).min()
                assert gap >= 2 * brain.GUARD_MM - 1e-3, (a, b, gap)


def test_brain_test_images_are_not_near_copies_of_train(brain32):
    train = brain32["train"].pixels.reshape(len(brain32["train"]), -1).astype(np.float32)
    test = brain32["test"].pixels.reshape(len(brain32["test"]), -1).astype(np.float32)[:150]

    def nearest(a, b, same=False):
        d = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        if same:
            np.fill_diagonal(d, np.inf)
        return np.sqrt(np.maximum(d.min(1), 0))

    train_train = nearest(train[:300], train, same=True)
    test_train = nearest(test, train)
    # the closest training image to a test image is much farther away than a
    # training image's closest neighbour within train
    assert np.median(test_train) > 1.5 * np.median(train_train)


def test_brain_is_deterministic_and_cached(brain_cache, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(brain_cache))
    first = data.load_dataset("brain-mri", image_size=32, split="val", seed=0)
    again = data.load_dataset("brain-mri", image_size=32, split="val", seed=0)
    assert "cache" in str(again.report)
    assert np.array_equal(first.pixels, again.pixels)
    cached = list((brain_cache / "brain-mri").glob("*.npz"))
    assert [p.name for p in cached] == [f"brain-mri_v{brain.VERSION}_32px_seed0.npz"]
    # a fresh build (no cache) gives the very same arrays
    fresh = brain.build(32, 0)
    assert np.array_equal(fresh["val_pixels"], first.pixels)
    other = brain.build(32, 1)
    assert not np.array_equal(other["val_pixels"], first.pixels)


def test_brain_broken_cache_is_rebuilt(brain_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path))
    path = brain.cache_path(tmp_path, 32, 5)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    ds = data.load_dataset("brain-mri", image_size=32, split="test", seed=5)
    assert len(ds) >= 500 and "built" in str(ds.report)


@pytest.mark.parametrize("size", [16, 28, 100, 256])
def test_brain_bad_size_lists_valid_sizes(size):
    with pytest.raises(data.DataError, match="32, 64, 128"):
        data.load_dataset("brain-mri", image_size=size)


def test_bad_split_and_unknown_source_list_choices():
    with pytest.raises(data.DataError, match="train, val, test"):
        data.load_dataset("brain-mri", split="training")
    with pytest.raises(data.DataError, match="pneumoniamnist") as info:
        data.load_dataset("brainmri")
    assert "brain-mri" in str(info.value) and "folder:" in str(info.value)
    with pytest.raises(data.DataError, match="3-D"):
        data.load_dataset("organmnist3d")
    with pytest.raises(data.DataError, match="Valid options: download, color"):
        data.load_dataset("pneumoniamnist", ct_window="lung")
    with pytest.raises(data.DataError, match="nifti_axis"):
        data.load_dataset("folder:/nonexistent", nifti_axes=1)
    with pytest.raises(data.DataError, match="no extra options"):
        data.load_dataset("brain-mri", color="rgb")


def test_card_and_report_are_readable(brain32):
    card = brain32["train"].card()
    text = str(card)
    assert "152" in text and "McGill" in text and "Copyright" in text
    assert "cerebellum / brainstem" in text and "2400" in text
    md = card._repr_markdown_()
    assert md.startswith("### Dataset card") and "| vertex |" in md
    d = json.loads(json.dumps(card.to_dict()))
    assert d["counts"]["test"]["vertex"] == 150 and d["image_size"] == 32
    report = str(brain32["test"].report)
    assert "600 images loaded" in report and "0 skipped" in report


def test_subset_and_batch_images(brain32):
    train = brain32["train"]
    sub = train.subset([5, 1, 7])
    assert len(sub) == 3 and list(sub.labels) == list(train.labels[[5, 1, 7]])
    batch = train.batch_images([7, 2])
    assert batch.dtype == np.float32 and np.allclose(batch[0], train.pixels[7] / 127.5 - 1)
    assert sub.class_counts()[train.class_names[train.labels[5]]] >= 1


def test_to_tf_dataset_batches_labels_and_range(brain32):
    tfds = data.to_tf_dataset(brain32["val"], batch_size=64, seed=0)
    batches = list(tfds.as_numpy_iterator())
    assert len(batches) == len(brain32["val"]) // 64  # drop_remainder
    images, labels = batches[0]
    assert images.shape == (64, 32, 32, 1) and images.dtype == np.float32
    assert labels.shape == (64,) and labels.dtype == np.int64
    assert images.min() >= -1 and images.max() <= 1
    # each image keeps its own label
    pix = brain32["val"].pixels.reshape(len(brain32["val"]), -1)
    lookup = {row.tobytes(): lab for row, lab in zip(pix, brain32["val"].labels)}
    back = np.rint((images + 1) * 127.5).astype(np.uint8).reshape(64, -1)
    assert [lookup[r.tobytes()] for r in back] == list(labels)


def test_to_tf_dataset_is_deterministic_for_a_seed(brain32):
    def epochs(seed):
        tfds = data.to_tf_dataset(brain32["val"], batch_size=50, seed=seed)
        return [np.concatenate([y for _, y in tfds.as_numpy_iterator()]) for _ in range(2)]

    a, b, c = epochs(3), epochs(3), epochs(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # reshuffled every epoch
    assert not np.array_equal(a[0], c[0])


def test_to_tf_dataset_streams_memmaps_deterministically(brain32, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "STREAM_THRESHOLD_BYTES", 0)  # stream even this small set
    val = brain32["val"]
    np.save(tmp_path / "pix.npy", val.pixels)
    mapped = data.ImageSet(
        np.load(tmp_path / "pix.npy", mmap_mode="r"),
        val.labels,
        val.class_names,
        name="mapped",
        split="val",
        report=val.report,
        card=val.card(),
    )
    assert isinstance(mapped.pixels, np.memmap)
    reader = pipeline._file_row_reader(mapped.pixels)  # rows are read with pread, not the map
    assert reader is not None and np.array_equal(reader(np.array([3, 1])), val.pixels[[3, 1]])
    one = list(data.to_tf_dataset(mapped, batch_size=32, seed=1).as_numpy_iterator())
    two = list(data.to_tf_dataset(mapped, batch_size=32, seed=1).as_numpy_iterator())
    assert len(one) == len(val) // 32
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(one, two))
    pix = val.pixels.reshape(len(val), -1)
    lookup = {row.tobytes(): lab for row, lab in zip(pix, val.labels)}
    images, labels = one[0]
    back = np.rint((images + 1) * 127.5).astype(np.uint8).reshape(len(images), -1)
    assert [lookup[r.tobytes()] for r in back] == list(labels)


def test_to_tf_dataset_without_labels_and_small_sets(brain32):
    sub = brain32["test"].subset(range(10))
    images = next(iter(data.to_tf_dataset(sub, batch_size=4, include_labels=False)))
    assert tuple(images.shape) == (4, 32, 32, 1)
    batches = list(data.to_tf_dataset(sub, batch_size=4, shuffle=False, drop_remainder=False))
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    with pytest.raises(data.DataError, match="batch_size"):
        data.to_tf_dataset(sub, batch_size=64)


def test_to_float_and_to_uint8_are_the_one_conversion():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    images = data.to_float(pixels)
    assert images.dtype == np.float32 and images.min() == -1.0 and images.max() == 1.0
    assert np.array_equal(images, pixels.astype(np.float32) / 127.5 - 1.0)
    assert np.array_equal(data.to_uint8(images), pixels)  # exact round trip
    assert np.array_equal(data.ImageSet.to_float(pixels), images)
    wild = np.array([-3.0, -1.0, -0.999, 0.0, 0.5, 1.0, 7.0, np.nan], dtype=np.float64)
    assert data.to_uint8(wild).tolist() == [0, 0, 0, 128, 191, 255, 255, 0]
    assert data.to_uint8(wild).dtype == np.uint8


def test_data_modules_import_imageset_never_the_package():
    """No import cycle: source modules import data.imageset (or each other), never data/__init__."""
    import ast
    import pathlib

    folder = pathlib.Path(data.__file__).parent
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("medgan_helpers"):
                names = [a.name for a in node.names]
                if node.module == "medgan_helpers.data":  # only sibling modules, no package names
                    assert all((folder / f"{n}.py").is_file() for n in names), (path.name, names)
                assert not (node.module == "medgan_helpers" and "data" in names), path.name
                if path.name == "imageset.py":
                    raise AssertionError(f"imageset.py must not import the kit: {node.module}")
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):  # no function-level imports of the kit (cycle hacks)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top_level:
                module = getattr(node, "module", None) or ""
                assert not module.startswith("medgan_helpers"), (path.name, module)


def test_brain_damaged_cache_files_are_rebuilt_not_fatal(tmp_path, monkeypatch):
    """Zero bytes, truncated or one flipped bit anywhere: the cache is rebuilt, identically."""
    monkeypatch.setattr(brain, "PER_CLASS", {"train": 6, "val": 2, "test": 3})  # small and quick
    good, info = brain.load_arrays(32, 3, tmp_path)
    assert not info["from_cache"]
    path = brain.cache_path(tmp_path, 32, 3)
    intact = path.read_bytes()
    assert brain.load_arrays(32, 3, tmp_path)[1]["from_cache"]
    rng = np.random.default_rng(0)
    damages = {
        "zero bytes": b"",
        "truncated": intact[: len(intact) * 2 // 3],
        "flip in the zip directory": None,
        "flip in an npy header": None,
        "flip in pixel data": None,
    }
    offsets = {
        "flip in the zip directory": len(intact) - 30,
        "flip in an npy header": intact.index(b"NUMPY") + 20,
        "flip in pixel data": intact.index(b"NUMPY") + 200 + int(rng.integers(0, 100)),
    }
    for name, damaged in damages.items():
        if damaged is None:
            raw = bytearray(intact)
            raw[offsets[name]] ^= 0x10
            damaged = bytes(raw)
        path.write_bytes(damaged)
        arrays, info = brain.load_arrays(32, 3, tmp_path)
        assert not info["from_cache"], name  # rebuilt ...
        assert all(np.array_equal(arrays[k], good[k]) for k in good), name  # ... identically
        assert path.read_bytes() == intact, name
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
