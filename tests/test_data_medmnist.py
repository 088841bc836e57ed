"""MedMNIST: the URL/MD5/licence table, verified download, refusal of bad files, offline errors.

No test reaches the internet: files are served from a real HTTP server on
127.0.0.1 (or copied by hand into the cache), with the MD5 table patched for
the small npz files made here.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from medgan_helpers import data
from medgan_helpers.data import medmnist


def make_npz(path, n=(12, 4, 6), size=28, channels=1, num_labels=1, num_classes=2, seed=0):
    """A small MedMNIST-shaped npz (uint8 images, N×L labels), saved compressed like the real ones."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(data.SPLITS, n):
        shape = (count, size, size) + ((channels,) if channels > 1 else ())
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, num_classes, (count, num_labels), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    return arrays


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture()
def server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served; the URL table points at it."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(
        medmnist, "URL_TEMPLATE", f"http://127.0.0.1:{httpd.server_address[1]}/{{flag}}{{suffix}}.npz"
    )
    yield root
    httpd.shutdown()
    httpd.server_close()


def test_table_covers_every_2d_flag_and_size():
    assert set(medmnist.FLAGS) == {
        "pneumoniamnist", "breastmnist", "chestmnist", "dermamnist", "octmnist", "retinamnist",
        "bloodmnist", "pathmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist",
    }  # fmt: skip
    for flag in medmnist.FLAGS:
        assert set(medmnist.MD5[flag]) == {28, 64, 128, 224}
        assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in medmnist.MD5[flag].values())
        info = medmnist.INFO[flag]
        assert info["licence"] in medmnist.LICENCE_URLS and info["classes"] and info["modality"]
    all_md5 = [m for f in medmnist.FLAGS for m in medmnist.MD5[f].values()]
    assert len(set(all_md5)) == len(all_md5)
    assert medmnist.INFO["dermamnist"]["licence"] == "CC BY-NC 4.0"
    assert medmnist.url("tissuemnist", 224) == (
        "https://zenodo.org/records/10519652/files/tissuemnist_224.npz?download=1"
    )
    assert medmnist.url("pneumoniamnist", 28).endswith("/pneumoniamnist.npz?download=1")
    assert medmnist.MD5["pneumoniamnist"][28] == "28209eda62fecd6e6a2d98b1501bb15f"


def test_download_verify_and_load(cache, server, monkeypatch, capsys):
    arrays = make_npz(server / "pneumoniamnist.npz")
    monkeypatch.setitem(medmnist.MD5["pneumoniamnist"], 28, md5(server / "pneumoniamnist.npz"))
    monkeypatch.setattr(medmnist, "_LICENCE_SHOWN", set())
    train = data.load_dataset("pneumoniamnist", image_size=28, split="train")
    assert "CC BY 4.0" in capsys.readouterr().out  # licence shown on load
    assert isinstance(train.pixels, np.memmap) and train.pixels.dtype == np.uint8
    assert train.pixels.shape == (12, 28, 28, 1)
    assert np.array_equal(train.pixels[..., 0], arrays["train_images"])
    assert train.labels.dtype == np.int64 and train.labels.shape == (12,)
    assert np.array_equal(train.labels, arrays["train_labels"][:, 0])
    assert train.class_names == ["normal", "pneumonia"]
    card = train.card()
    assert "CC BY 4.0" in card.licence and "X-ray" in card.modality
    assert sum(card.counts["test"].values()) == 6 and "MedMNIST v2" in card.citation
    assert "MD5 verified" in str(train.report)
    assert (cache / "medmnist" / "pneumoniamnist.npz").is_file()
    test = data.load_dataset("pneumoniamnist", image_size=28, split="test")
    assert len(test) == 6
    # a loaded file is used from the cache: no server needed any more
    shutil.rmtree(server)
    assert len(data.load_dataset("pneumoniamnist", 28, "val")) == 4
    batch = next(iter(data.to_tf_dataset(train, batch_size=4, seed=0)))
    assert tuple(batch[0].shape) == (4, 28, 28, 1) and float(batch[0].numpy().min()) >= -1


def test_corrupt_download_is_refused_and_not_kept(cache, server, monkeypatch):
    make_npz(server / "breastmnist_64.npz", size=64)
    monkeypatch.setitem(medmnist.MD5["breastmnist"], 64, "0" * 32)
    with pytest.raises(data.DataError, match="corrupt") as info:
        data.load_dataset("breastmnist", image_size=64)
    assert "0" * 32 in str(info.value)
    leftovers = [p.name for p in (cache / "medmnist").iterdir()]
    assert leftovers == ["breastmnist_64.npz.lock"]  # only the (empty) lock file


def test_tampered_cached_file_is_refused_and_never_used_again(cache, server, monkeypatch):
    make_npz(server / "octmnist.npz", num_classes=4)
    monkeypatch.setitem(medmnist.MD5["octmnist"], 28, md5(server / "octmnist.npz"))
    assert len(data.load_dataset("octmnist", 28, "train")) == 12
    # someone swaps the cached file for other data
    path = cache / "medmnist" / "octmnist.npz"
    make_npz(path, num_classes=4, seed=99)
    os.utime(path, ns=(1, 1))
    with pytest.raises(data.DataError, match="Refusing") as info:
        data.load_dataset("octmnist", 28, "train", download=False)
    assert "corrupt or was altered" in str(info.value)
    assert not path.exists() and (cache / "medmnist" / "octmnist.npz.rejected").exists()
    assert not (cache / "medmnist" / "octmnist").exists()  # extracted arrays removed too
    with pytest.raises(data.DataError, match="download the file by hand"):
        data.load_dataset("octmnist", 28, "train", download=False)
    # the next load downloads a fresh, verified copy
    assert len(data.load_dataset("octmnist", 28, "train")) == 12


def test_offline_error_says_which_file_to_put_where(cache, monkeypatch):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(medmnist, "URL_TEMPLATE", f"http://127.0.0.1:{port}/{{flag}}{{suffix}}.npz")
    with pytest.raises(data.DataError) as info:
        data.load_dataset("dermamnist", image_size=128)
    message = str(info.value)
    assert "dermamnist_128.npz" in message
    assert f"http://127.0.0.1:{port}/dermamnist_128.npz" in message
    assert str(cache / "medmnist" / "dermamnist_128.npz") in message
    assert medmnist.MD5["dermamnist"][128] in message
    left = [p.name for p in (cache / "medmnist").iterdir()]
    assert left == ["dermamnist_128.npz.lock"]  # no partial file left behind, only the lock


def test_offline_error_real_url_with_download_disabled(cache):
    with pytest.raises(data.DataError) as info:
        data.load_dataset("tissuemnist", image_size=224, download=False)
    message = str(info.value)
    assert "https://zenodo.org/records/10519652/files/tissuemnist_224.npz?download=1" in message
    assert str(cache / "medmnist" / "tissuemnist_224.npz") in message


def test_file_placed_by_hand_is_verified_and_used(cache, monkeypatch, tmp_path, capsys):
    target = cache / "medmnist" / "dermamnist_64.npz"
    target.parent.mkdir(parents=True)
    arrays = make_npz(target, size=64, channels=3, num_classes=7)
    monkeypatch.setitem(medmnist.MD5["dermamnist"], 64, md5(target))
    monkeypatch.setattr(medmnist, "_LICENCE_SHOWN", set())
    ds = data.load_dataset("dermamnist", image_size=64, split="val", download=False)
    out = capsys.readouterr().out
    assert "CC BY-NC 4.0" in out and "NON-COMMERCIAL" in out
    assert ds.channels == 3 and np.array_equal(ds.pixels, arrays["val_images"])
    assert "NON-COMMERCIAL" in str(ds.card()) and len(ds.class_names) == 7
    grey = data.load_dataset("dermamnist", image_size=64, split="val", download=False, color="grey")
    assert grey.channels == 1
    expected = np.rint(arrays["val_images"].astype(np.float32) @ np.array([0.299, 0.587, 0.114]))
    assert np.abs(grey.pixels[..., 0].astype(int) - expected.astype(int)).max() <= 1


def test_chestmnist_is_multi_label(cache, monkeypatch):
    target = cache / "medmnist" / "chestmnist.npz"
    target.parent.mkdir(parents=True)
    arrays = make_npz(target, num_labels=14, num_classes=2)
    monkeypatch.setitem(medmnist.MD5["chestmnist"], 28, md5(target))
    ds = data.load_dataset("chestmnist", 28, "train", download=False)
    assert ds.multi_label and ds.labels.shape == (12, 14) and ds.labels.dtype == np.int64
    assert np.array_equal(ds.labels, arrays["train_labels"])
    assert ds.class_counts()["hernia"] == int(arrays["train_labels"][:, 13].sum())
    assert "multi-hot" in str(ds.card())
    _, labels = next(iter(data.to_tf_dataset(ds, batch_size=4)))
    assert tuple(labels.shape) == (4, 14)


def test_not_an_npz_with_matching_md5_is_rejected_clearly(cache, monkeypatch):
    target = cache / "medmnist" / "bloodmnist.npz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"<html>rate limited</html>")
    monkeypatch.setitem(medmnist.MD5["bloodmnist"], 28, md5(target))
    with pytest.raises(data.DataError, match="not a valid .npz"):
        data.load_dataset("bloodmnist", 28, download=False)


@pytest.mark.parametrize("size", [32, 100, 256])
def test_medmnist_bad_size_lists_valid_sizes(size):
    with pytest.raises(data.DataError, match="28, 64, 128, 224"):
        data.load_dataset("pathmnist", image_size=size)


def test_tampering_that_keeps_size_and_mtime_is_still_caught(cache, server, monkeypatch):
    make_npz(server / "retinamnist.npz", channels=3, num_classes=5)
    monkeypatch.setitem(medmnist.MD5["retinamnist"], 28, md5(server / "retinamnist.npz"))
    assert len(data.load_dataset("retinamnist", 28, "test")) == 6
    path = cache / "medmnist" / "retinamnist.npz"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte, keep the size
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and restore the timestamp
    monkeypatch.setattr(medmnist, "_VERIFIED", {})  # as in a new Python session
    with pytest.raises(data.DataError, match="Refusing"):
        data.load_dataset("retinamnist", 28, "test", download=False)


LOADER = r"""
import os, sys, time
from medgan_helpers import data
from medgan_helpers.data import medmnist
medmnist.URL_TEMPLATE = sys.argv[1]
medmnist.MD5["pneumoniamnist"][64] = sys.argv[2]
go = sys.argv[3]
while not os.path.exists(go):  # start together
    time.sleep(0.01)
for round_ in range(4):
    medmnist._VERIFIED.clear()  # as if a new session: every round verifies again
    for split in data.SPLITS:
        ds = data.load_dataset("pneumoniamnist", image_size=64, split=split)
        assert int(ds.pixels[:, 0, 0, 0].astype(int).sum()) >= 0 and len(ds.labels) == len(ds)
print("OK", len(ds))
"""


def test_eight_concurrent_loaders_all_succeed(cache, server, tmp_path):
    """8 processes download, verify, extract and read one file at once: none fails."""
    make_npz(server / "pneumoniamnist_64.npz", n=(1500, 200, 300), size=64)
    digest = md5(server / "pneumoniamnist_64.npz")
    url_template = medmnist.URL_TEMPLATE
    go = tmp_path / "go"
    env = {**os.environ, "MEDGAN_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen([sys.executable, "-c", LOADER, url_template, digest, str(go)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    time.sleep(1.0)
    go.write_text("go")
    results = [p.communicate(timeout=300) for p in procs]
    failures = [err[-2000:] for (out, err), p in zip(results, procs) if p.returncode != 0]
    assert not failures, failures[0]
    assert all(out.strip().splitlines()[-1] == "OK 300" for out, _ in results)
    leftovers = [p.name for p in cache.rglob("*.part")]
    assert leftovers == []


def test_failed_extraction_leaves_no_part_files(cache, monkeypatch):
    target = cache / "medmnist" / "pathmnist.npz"
    target.parent.mkdir(parents=True)
    make_npz(target, n=(40, 8, 8), channels=3)
    raw = bytearray(target.read_bytes())
    start = raw.index(b"val_images.npy")  # damage the deflated data of one member
    raw[start + 200 : start + 260] = bytes(60)
    target.write_bytes(bytes(raw))
    monkeypatch.setitem(medmnist.MD5["pathmnist"], 28, md5(target))  # "verified" yet damaged
    with pytest.raises(data.DataError, match="damaged"):
        data.load_dataset("pathmnist", 28, "train", download=False)
    assert [p.name for p in cache.rglob("*.part")] == []


def test_damaged_extracted_arrays_are_rebuilt(cache, server, monkeypatch):
    arrays = make_npz(server / "organamnist.npz", num_classes=11)
    monkeypatch.setitem(medmnist.MD5["organamnist"], 28, md5(server / "organamnist.npz"))
    data.load_dataset("organamnist", 28, "train")
    folder = cache / "medmnist" / "organamnist"
    images = folder / "train_images.npy"
    images.write_bytes(images.read_bytes()[:-100])  # truncated
    (folder / "val_labels.npy").write_bytes(b"")  # zero bytes
    test_images = folder / "test_images.npy"
    st = test_images.stat()
    raw = bytearray(test_images.read_bytes())
    raw[-10] ^= 0x40  # one flipped bit, same size and mtime
    test_images.write_bytes(bytes(raw))
    os.utime(test_images, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.setattr(medmnist, "_VERIFIED", {})  # a new session
    shutil.rmtree(server)  # healing needs no download: the verified npz is still there
    for split in data.SPLITS:
        ds = data.load_dataset("organamnist", 28, split, download=False)
        assert np.array_equal(ds.pixels[..., 0], arrays[f"{split}_images"]), split
        assert np.array_equal(ds.labels, arrays[f"{split}_labels"][:, 0]), split
    assert [p.name for p in cache.rglob("*.part")] == []
