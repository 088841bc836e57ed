"""Tests for medgan_helpers.training: train() end to end, streaming, resume and faults.

Everything trains for real on tiny images and tiny models (seconds each); the
tests that train are marked ``slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import config, data, recipe, runs, sampling, training
from tests.helpers import blob_set, blobs, tiny_knobs


@pytest.mark.slow
def test_train_writes_a_complete_run_and_latest_run_finds_it(artifacts):
    images, _ = blobs(64, size=28)
    assert runs.latest_run() is None
    result = training.train(images, verbose=0, display=False, **tiny_knobs())
    run = result.run
    assert isinstance(result, training.TrainResult) and result.run_dir == run.path
    assert run.path.parent == artifacts / "runs" and run.path.name.startswith("array-28px-")
    assert sorted(p.name for p in run.samples_dir.iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert len(json.loads((run / "history.json").read_text())["d_loss"]) == 2 == len(result.history["d_loss"])
    health = json.loads((run / "health.json").read_text())
    assert [r["epoch"] for r in health] == [1, 2] and "diversity" in health[0]
    cfg = run.config
    assert cfg["status"] == "finished" and cfg["gan"]["num_classes"] is None and cfg["steps"] == 8
    assert cfg["knobs"] == recipe.knobs(**tiny_knobs())
    assert not run.backup_dir.exists()  # BackupAndRestore cleans up after a finished run
    assert not (run / runs.LOCK).exists()  # the live-run lock is released
    assert runs.latest_run() == run
    assert runs.latest_run(artifacts) == run == runs.latest_run(artifacts / "runs")
    assert runs.latest_run(dataset="brain-mri") is None
    sampler, how = training.load_latest_or_pretrained("array", 28)
    assert "newest run" in how and isinstance(sampler, sampling.GeneratorModel)
    np.testing.assert_array_equal(sampler.generate(3, seed=1), result.gan.generate(3, seed=1))
    with pytest.raises(ValueError, match="unknown training knob"):
        training.train(images, epoch=3)


@pytest.mark.slow
def test_train_conditional_on_an_imageset_uses_its_class_names(artifacts):
    result = training.train(blob_set(64, classes=3), verbose=0, display=False, **tiny_knobs(epochs=1))
    assert result.gan.num_classes == 3 and result.gan.class_names == ["class 0", "class 1", "class 2"]
    assert result.run.config["dataset"] == "blobs"
    unconditional = training.train(blob_set(64), verbose=0, display=False, **tiny_knobs(epochs=1, conditional=False))
    assert unconditional.gan.num_classes is None


def test_default_config_is_the_recipe_and_quick_is_smaller(monkeypatch):
    full, quick = training.default_config(), training.default_config(quick=True)
    assert full == dict(recipe.GAN_DEFAULTS) and set(full) == set(quick)
    assert quick["epochs"] < full["epochs"] and quick["g_base_filters"] < full["g_base_filters"]
    # the library never reads quick mode by itself (monkeypatch restores the variable as it was:
    # popping it would switch every notebook that nbval runs later in this process to full settings)
    monkeypatch.setenv("MEDGAN_QUICK", "1")
    assert training.default_config() == full


def test_quick_subset_is_evenly_spaced_and_keeps_every_class():
    images = blob_set(90, classes=3)
    order = np.argsort(images.labels, kind="stable")  # sorted by class, as the sources store them
    sorted_set = images.subset(order)
    small = training.quick_subset(sorted_set, 30)
    assert len(small) == 30 and set(small.labels) == {0, 1, 2}
    assert training.quick_subset(sorted_set, None) is sorted_set
    np.testing.assert_array_equal(small.pixels, training.quick_subset(sorted_set, 30).pixels)


# --------------------------------------------------------------------------- streaming


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_streams_a_set_too_large_for_float32(tmp_path, artifacts):
    """270 000 images of 64 px: 4.4 GB as float32, over ImageSet's 4 GB guard. train() must
    stream the memory-mapped uint8 pixels (ImageSet.images would raise) and never convert all."""
    n, size = 270_000, 64
    path = tmp_path / "big.u8"
    pixels = np.memmap(path, dtype=np.uint8, mode="w+", shape=(n, size, size, 1))  # sparse file
    pixels[::1000] = np.random.default_rng(0).integers(0, 255, (len(pixels[::1000]), size, size, 1), np.uint8)
    pixels.flush()
    mapped = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, size, size, 1))
    report = data.LoadReport("big", "train", loaded=n)
    card = data.DatasetCard(name="big", source="test", modality="test", licence="test", description="",
                            image_size=size, channels=1, class_names=[], counts={}, preprocessing=[])
    big = data.ImageSet(mapped, None, [], name="big", split="train", report=report, card=card)
    with pytest.raises(data.DataError, match="GB"):
        big.images  # noqa: B018 - the guard this test is about
    result = training.train(big, verbose=0, display=False,
                            **tiny_knobs(epochs=1, steps_per_epoch=3, g_base_filters=2, d_base_filters=2))
    assert int(result.gan.g_optimizer.iterations.numpy()) == 3
    assert result.run.config["num_images"] == n


# --------------------------------------------------------------------------- kill, resume, two at once

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import keras
    import numpy as np
    from medgan_helpers import training

    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(float(os.environ.get("SLEEP", "0.7")))

    die_at = int(os.environ.get("DIE_DURING_BACKUP_AT_EPOCH", "0"))
    if die_at:
        # power loss halfway through writing the epoch's checkpoint: half a file, then SIGKILL
        save = keras.callbacks.BackupAndRestore._save_model
        def half_save(self):
            if self._current_epoch == die_at:
                import shutil, signal
                if self.double_checkpoint and os.path.exists(self._weights_path):
                    shutil.copy(self._weights_path, self._prev_weights_path)
                    shutil.copy(self._training_metadata_path, self._prev_training_metadata_path)
                tmp = self._weights_path.replace(".weights.h5", ".full.weights.h5")
                self.model.save_weights(tmp)
                blob = open(tmp, "rb").read()
                with open(self._weights_path, "wb") as out:
                    out.write(blob[: len(blob) // 2])
                print("KILLED DURING SAVE", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            return save(self)
        keras.callbacks.BackupAndRestore._save_model = half_save

    rng = np.random.default_rng(0)
    images = np.tanh(rng.standard_normal((32, 28, 28, 1))).astype("float32")
    result = training.train(
        images, epochs=6, batch_size=16, g_base_filters=4, d_base_filters=4, max_filters=8,
        latent_dim=8, verbose=2, display=False, callbacks=[Slow()],
    )
    print("FINISHED", result.run.path.name)
    """
)


def _env(tmp_path, **extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MEDGAN_ARTIFACTS": str(tmp_path / "artifacts"), **extra}


def _epochs_run(stdout: str) -> list[int]:
    return [int(line.split()[1].split("/")[0]) for line in stdout.splitlines() if line.startswith("Epoch ")]


def _script(tmp_path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return script


def _start_until(tmp_path, pattern: str, **env) -> subprocess.Popen:
    """Start the training script in a fresh process; return once ``artifacts/runs/<pattern>`` exists."""
    proc = subprocess.Popen([sys.executable, str(_script(tmp_path))], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(tmp_path, **env))
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "artifacts" / "runs").glob(pattern)):
        assert proc.poll() is None, proc.stdout.read()[-2000:]
        time.sleep(0.1)
    return proc


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_killed_run_resumes_losing_at_most_one_epoch(tmp_path):
    root = tmp_path / "artifacts" / "runs"
    proc = _start_until(tmp_path, "*/samples/epoch_002.png")
    os.kill(proc.pid, signal.SIGKILL)  # like a Colab disconnect: no cleanup at all
    proc.wait()
    (run,) = list(root.iterdir())
    done_before_kill = len((run / "history.csv").read_text().strip().splitlines()) - 1
    assert 2 <= done_before_kill < 6
    assert (run / "backup").is_dir() and (run / runs.LOCK).exists()  # a stale lock: its process is gone
    assert runs.RunFolder(run).config["status"] == "running"

    second = subprocess.run([sys.executable, str(tmp_path / "train.py")], capture_output=True, text=True,
                            env=_env(tmp_path), timeout=600)
    assert second.returncode == 0 and "FINISHED" in second.stdout, second.stdout[-2000:] + second.stderr[-2000:]
    assert list(root.iterdir()) == [run]  # the same run continued, not a new one
    epochs = _epochs_run(second.stdout)
    assert epochs[0] >= done_before_kill and epochs[-1] == 6  # lost at most the epoch in progress
    assert len(json.loads((run / "history.json").read_text())["d_loss"]) == 6
    assert runs.RunFolder(run).config["status"] == "finished"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_kill_in_the_middle_of_a_checkpoint_save_still_resumes(tmp_path):
    """The epoch-3 checkpoint is half written when the process dies: double_checkpoint keeps the
    epoch-2 copy, so the next call resumes from it instead of failing on a truncated file."""
    script = _script(tmp_path)
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                           env=_env(tmp_path, SLEEP="0", DIE_DURING_BACKUP_AT_EPOCH="3"))
    assert "KILLED DURING SAVE" in first.stdout and first.returncode == -signal.SIGKILL, first.stdout[-2000:]
    (run,) = list((tmp_path / "artifacts" / "runs").iterdir())
    assert (run / "backup").is_dir()
    second = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=150,
                            env=_env(tmp_path, SLEEP="0"))
    assert second.returncode == 0 and f"FINISHED {run.name}" in second.stdout, second.stdout[-2000:] + second.stderr[-3000:]
    epochs = _epochs_run(second.stdout)
    assert epochs[0] == 3 and epochs[-1] == 6  # from the epoch-2 copy: epoch 3 is run again
    assert runs.RunFolder(run).config["status"] == "finished"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_trainings_at_once_never_share_a_run(tmp_path):
    root = tmp_path / "artifacts" / "runs"
    first = _start_until(tmp_path, "*/backup", SLEEP="1.0")  # the first run is live and resumable-looking
    second = subprocess.run([sys.executable, str(tmp_path / "train.py")], capture_output=True, text=True,
                            env=_env(tmp_path, SLEEP="0"), timeout=200)
    out_first, _ = first.communicate(timeout=200)
    assert first.returncode == 0 and second.returncode == 0, out_first[-1500:] + second.stdout[-1500:]
    names = {line.split()[1] for line in (out_first + second.stdout).splitlines() if line.startswith("FINISHED")}
    assert len(names) == 2 and {p.name for p in root.iterdir()} == names
    for name in names:
        assert runs.RunFolder(root / name).config["status"] == "finished"
        assert len(json.loads((root / name / "history.json").read_text())["d_loss"]) == 6


# --------------------------------------------------------------------------- the shipped model


def test_shipped_pretrained_generator_loads_as_a_sampler(tmp_path, monkeypatch):
    folder = config.pretrained_dir() / "brain-mri-64"
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path))  # no runs: the pretrained one is chosen
    sampler, how = training.load_latest_or_pretrained("brain-mri", 64)
    assert "pretrained" in how and isinstance(sampler, sampling.GeneratorModel)
    assert sampler.num_classes == 4 and len(sampler.class_names) == 4
    assert (sampler.image_size, sampler.channels) == (64, 1)
    images = sampler.generate(8, seed=0)
    assert images.shape == (8, 64, 64, 1) and images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images, sampler.generate(8, seed=0))
    assert (folder / "MODEL_CARD.md").read_text().count("## Evaluation") == 1
    assert runs.RunFolder(folder).config["kind"] == "pretrained"
    assert (folder / runs.EMA_WEIGHTS).stat().st_size < 10e6
