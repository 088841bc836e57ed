"""Tests for medgan_helpers.runs: one config.json writer, atomic files, locks, loading."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from medgan_helpers import data, fileio, pictures, runs, sampling
from medgan_helpers.jobs import runner
from tests.helpers import SIZE, blob_set, tiny_gan


@pytest.mark.slow
def test_save_load_round_trip_same_images_and_training_continues(tmp_path):
    model = tiny_gan(3, class_names=["small", "medium", "large"])
    ds = data.to_tf_dataset(blob_set(), batch_size=16)
    history = model.fit(ds, epochs=1, verbose=0)
    run = runs.save_gan(model, tmp_path / "run", history=history, dataset="blobs", image_size=SIZE)
    for name in ("config.json", "history.json", "generator_ema.weights.h5", "gan.weights.h5"):
        assert (run / name).is_file(), name
    assert not list(run.path.glob("*.keras"))  # kit-built models are saved as weights + settings
    cfg = run.config
    assert cfg["schema"] == runs.SCHEMA and cfg["status"] == "finished"
    assert cfg["models"]["generator"]["base_filters"] == 4
    assert json.loads((run / "history.json").read_text())["d_loss"]

    loaded = runs.load_gan(run.path)
    np.testing.assert_array_equal(loaded.generate(5, seed=2), model.generate(5, seed=2))
    assert loaded.class_names == ["small", "medium", "large"] and loaded.loss_name == "hinge"
    assert int(loaded.g_optimizer.iterations.numpy()) == 4  # optimizer state came back
    for a, b in zip(loaded.d_optimizer.variables, model.d_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    loaded.fit(ds, epochs=1, verbose=0)
    assert int(loaded.g_optimizer.iterations.numpy()) == 8
    assert not np.allclose(loaded.generate(5, seed=2), model.generate(5, seed=2))

    sampler = runs.load_generator(run.path)
    assert isinstance(sampler, sampling.GeneratorModel)
    np.testing.assert_array_equal(sampler.generate(5, seed=2), model.generate(5, seed=2))
    assert sampler.class_names == ["small", "medium", "large"] and sampler.image_size == SIZE


def test_hand_built_models_are_saved_as_keras_files_too(tmp_path):
    import keras

    from medgan_helpers import gan

    z = keras.Input((8,))
    x = keras.layers.Dense(4 * 4 * 4)(z)
    x = keras.layers.Reshape((4, 4, 4))(x)
    x = keras.layers.Conv2DTranspose(1, 4, strides=8, padding="same", activation="tanh")(x)
    G = keras.Model(z, x)
    image = keras.Input((32, 32, 1))
    D = keras.Model(image, keras.layers.Dense(1)(keras.layers.Flatten()(image)))
    model = gan.GAN(G, D, 8)
    model.compile()
    run = runs.save_gan(model, tmp_path / "run")
    assert (run / "generator_ema.keras").is_file() and "models" not in run.config
    np.testing.assert_allclose(runs.load_generator(run.path).generate(2, seed=1), model.generate(2, seed=1), atol=1e-6)


def test_load_errors_say_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.load_gan(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(runs.DamagedRunError, match="no config.json"):
        runs.load_generator(tmp_path / "half")
    runs.RunFolder(tmp_path / "half").write_config(status="running")
    with pytest.raises(FileNotFoundError, match="did not finish"):
        runs.load_generator(tmp_path / "half")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text('{"gan": {}}')
    with pytest.raises(runs.DamagedRunError, match="schema"):
        runs.load_generator(tmp_path / "old")


def test_new_run_folders_are_unique_within_one_second(artifacts):
    made = {runs.RunFolder.new("brain-mri", 64).path for _ in range(20)}
    assert len(made) == 20 and all(p.parent == artifacts / "runs" for p in made)
    with pytest.raises(ValueError, match="opaque"):
        runs.RunFolder.new("folder:/home/jane doe/scans", 64)  # a path must never become a folder name


def test_json_never_holds_a_bare_nan(tmp_path):
    fileio.write_json(tmp_path / "x.json", {"a": math.nan, "b": [1.0, math.inf, np.float32(2.5)], "c": np.int64(3)})
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None, 2.5], "c": 3}


def test_a_write_that_fails_mid_file_leaves_the_old_file_intact(tmp_path, monkeypatch):
    """A full disk: os.write raises ENOSPC halfway; the previous config.json must survive whole."""
    run = runs.RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_config(status="running", knobs={"epochs": 3})
    before = (run / "config.json").read_bytes()

    real_fdopen = os.fdopen

    class HalfDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, payload):
            self.handle.write(payload[: len(payload) // 2])
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(pictures.os, "fdopen", lambda fd, mode: HalfDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"):
        run.write_config(status="finished", knobs={"epochs": 3}, notes="x" * 10000)
    monkeypatch.undo()
    assert (run / "config.json").read_bytes() == before
    assert run.config["status"] == "running"
    assert [p.name for p in run.path.iterdir()] == ["config.json"]  # no temporary file left behind


def test_damaged_runs_are_skipped_with_a_warning_not_a_crash(artifacts, capsys):
    good = runs.RunFolder.new("blobs", SIZE)
    good.write_config(dataset="blobs", image_size=SIZE, status="finished")
    (good / runs.EMA_WEIGHTS).write_bytes(b"weights")
    bad = runs.RunFolder.new("blobs", SIZE)
    (bad / "config.json").write_text('{"schema": 2, "status": "fin')  # truncated by a full disk
    assert runs.latest_run() == good
    assert runs.scan() == [good]
    assert "skipping a damaged run" in capsys.readouterr().err
    result = runner.NotebookResult("01_x", "ok", 1.0)
    index = runner.write_index(artifacts, [result], "now")
    assert good.path.name in index.read_text() and bad.path.name not in index.read_text()


def test_the_lock_keeps_a_second_process_out_and_stale_locks_are_ignored(tmp_path):
    run = runs.RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.lock()
    assert run.lock_holder()["pid"] == os.getpid()
    code = (
        "import sys; from medgan_helpers import runs\n"
        f"run = runs.RunFolder({str(run.path)!r})\n"
        "try:\n    run.lock()\nexcept RuntimeError as err:\n    print('REFUSED', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "REFUSED" in out.stdout and str(os.getpid()) in out.stdout
    run.unlock()
    assert run.lock_holder() is None
    # a lock left by a process that died is stale
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    fileio.write_json(run / runs.LOCK, {"pid": int(dead.stdout), "host": __import__("socket").gethostname()})
    assert run.lock_holder() is None


def test_config_json_has_one_writer():
    """Only runs.py writes config.json (grep the package)."""
    from pathlib import Path

    import medgan_helpers

    package = Path(medgan_helpers.__file__).parent
    writers = []
    for path in package.rglob("*.py"):
        text = path.read_text()
        if ('"config.json"' in text or "CONFIG" in text) and (".write_text(" in text or "json.dump(" in text):
            if path.name != "runs.py" and "config.json" in text:
                writers.append(path.name)
    assert writers == []
    assert "def write_config" in (package / "runs.py").read_text()


def test_scan_tolerates_odd_but_valid_configs_and_skips_damaged_ones(artifacts, capsys):
    """Issue 21: one config.json with "created": 20261205 (a number) made scan, latest_run and
    find_resumable crash with TypeError, which broke every train(resume=True)."""
    knobs = {"epochs": 3}

    def make(created, **fields):
        run = runs.RunFolder.new("blobs", SIZE)
        fileio.write_json(run / runs.CONFIG, {"schema": runs.SCHEMA, "dataset": "blobs", "image_size": SIZE,
                                            "created": created, **fields})
        return run

    older = make("2026-12-04T10:00:00+00:00", status="finished")
    (older / runs.EMA_WEIGHTS).write_bytes(b"weights")
    newer = make(20261205, status="finished")  # a number: YYYYMMDD
    (newer / runs.EMA_WEIGHTS).write_bytes(b"weights")
    interrupted = make({"odd": True}, status="running", knobs=knobs)  # odd: falls back to the file's time
    interrupted.backup_dir.mkdir()
    make(None, status=7, dataset=["not", "a", "name"])  # odd types, still a valid object
    damaged = runs.RunFolder.new("blobs", SIZE)
    (damaged / runs.CONFIG).write_text("[1, 2, 3]")  # valid JSON, but no config

    found = runs.scan()
    assert len(found) == 4 and found.index(newer) < found.index(older)
    assert damaged not in found and "skipping a damaged run" in capsys.readouterr().err
    assert runs.latest_run() == newer
    resumed = runs.find_resumable("blobs", SIZE, knobs)
    assert resumed == interrupted and resumed.lock_holder()["pid"] == os.getpid()  # handed over locked
    resumed.unlock()
