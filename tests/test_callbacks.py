"""Tests for medgan_helpers.callbacks: alarms that tell the truth, sample grids, the NaN guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from medgan_helpers import callbacks, data, losses, runs, sampling
from tests.helpers import SIZE, blobs, tiny_gan

FIXTURE = Path(__file__).parent / "fixtures" / "collapsed-brain-mri-64"
QUIET = {"d_real_acc": 0.7, "d_fake_acc": 0.6, "d_grad_norm": 1.0, "g_grad_norm": 1.0, "d_loss": 1.5}


class RealImageSampler(sampling.SamplerMixin):
    """An ideal conditional generator: each latent picks a real image of the asked class."""

    def __init__(self, imageset: data.ImageSet):
        self.images, self.labels = imageset.images, imageset.labels
        self.latent_dim, self.num_classes = 8, len(imageset.class_names)
        self._class_names = tuple(imageset.class_names)

    @property
    def image_size(self):
        return self.images.shape[1]

    @property
    def channels(self):
        return self.images.shape[-1]

    def generate_from_latent(self, z, labels=None, batch_size=256):
        labels = self.labels_for(len(z), labels)
        out = []
        for vector, label in zip(np.asarray(z), labels):
            pool = np.flatnonzero(self.labels == label)
            out.append(self.images[pool[int(abs(vector[0]) * 1e6) % len(pool)]])
        return np.stack(out)


@pytest.fixture(scope="module")
def brain64() -> data.ImageSet:
    return data.load_dataset("brain-mri", image_size=64, split="train")


def test_per_class_collapse_alarm_fires_on_the_known_collapsed_generator(brain64):
    """The pretrained generator shipped until 2026-11 was collapsed in two classes; the old
    all-classes average said 'ok' (0.93x real). Per class, the alarm names both classes."""
    collapsed = runs.load_generator(FIXTURE)
    health = callbacks.TrainingHealth(real=brain64, warmup_epochs=0, verbose=False)
    record = health.check(collapsed, QUIET, epoch=10)
    assert record["diversity_ratio"] > 0.8  # the average hides it
    ratios = record["class_diversity_ratio"]
    assert ratios["basal ganglia / ventricles"] < 0.5 and ratios["centrum semiovale"] < 0.5
    assert ratios["vertex"] > 0.6 and ratios["cerebellum / brainstem"] > 0.6
    (alarm,) = [a for a in record["alarms"] if "collapse" in a]
    assert "basal ganglia / ventricles" in alarm and "centrum semiovale" in alarm and "vertex" not in alarm


def test_collapse_alarm_is_silent_for_a_healthy_generator(brain64):
    healthy = RealImageSampler(brain64)
    health = callbacks.TrainingHealth(real=brain64, warmup_epochs=0, verbose=False)
    record = health.check(healthy, QUIET, epoch=10)
    assert record["alarms"] == []
    assert all(0.7 < r < 1.4 for r in record["class_diversity_ratio"].values())


def test_collapse_alarm_for_an_unconditional_generator_and_the_warmup():
    images, _ = blobs(64)
    model = tiny_gan(None)
    last = model.ema_generator.get_layer("to_image")
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))  # every z -> the same image
    health = callbacks.TrainingHealth(real=images, warmup_epochs=2, verbose=False)
    health.set_model(model)
    health.on_epoch_end(0, {**QUIET, "d_real_acc": 0.99, "d_fake_acc": 0.99})
    assert not any("collapse" in a for a in health.records[-1]["alarms"])  # within warm-up
    health.on_epoch_end(2, {**QUIET, "d_real_acc": 0.99, "d_fake_acc": 0.99})
    record = health.records[-1]
    assert record["diversity"] == pytest.approx(0.0, abs=1e-6)
    assert any(a.startswith("mode collapse:") for a in record["alarms"])
    assert any("D wins" in a for a in record["alarms"])
    assert callbacks.sample_diversity(images) > 0.1


@pytest.mark.parametrize("loss", ["hinge", "bce"])
def test_d_at_chance_warns_after_several_epochs_and_says_what_to_try(loss):
    model = tiny_gan(None)
    health = callbacks.TrainingHealth(real=blobs(32)[0], loss=loss, chance_epochs=3, verbose=False)
    health.set_model(model)
    chance = losses.CHANCE_D_LOSS[loss]
    for epoch, d_loss in enumerate([1.2, chance * 0.99, chance * 1.01, chance]):
        health.on_epoch_end(epoch, {**QUIET, "d_loss": d_loss})
    streaks = [r["d_at_chance"] for r in health.records]
    assert streaks == [0, 1, 2, 3]
    assert not any("D at chance" in a for r in health.records[:3] for a in r["alarms"])
    (alarm,) = [a for a in health.records[-1]["alarms"] if "D at chance" in a]
    assert f"{chance:.2f}" in alarm and "outputs 0" in alarm and "d_lr" in alarm
    health.on_epoch_end(4, {**QUIET, "d_loss": 1.0})  # D learns again: the streak ends
    assert health.records[-1]["d_at_chance"] == 0
    assert not any("D at chance" in a for a in health.records[-1]["alarms"])


def test_health_lines_name_the_lowest_class():
    record = {"epoch": 3, "d_loss": 1.9, "d_real_acc": 0.5, "d_fake_acc": 0.5, "d_grad_norm": 1.0,
              "g_grad_norm": 1.0, "diversity_ratio": 0.93, "class_diversity_ratio": {"a": 0.38, "b": 0.9},
              "alarms": []}
    assert "lowest class 0.38x" in callbacks.TrainingHealth.describe(record)


def test_sample_grid_writes_pngs(tmp_path):
    model = tiny_gan(3)
    grid = callbacks.SampleGrid(tmp_path / "samples", n=6, display=False)
    grid.set_model(model)
    grid.on_epoch_end(0)
    grid.on_epoch_end(1)
    assert (tmp_path / "samples" / "epoch_002.png").is_file()
    np.testing.assert_array_equal(grid.grids[1], grid.grids[2])  # fixed latents, untrained G
    assert grid.grids[1].shape == (2 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2)


@pytest.mark.slow
def test_nan_guard_stops_and_rolls_back_on_a_corrupt_batch():
    images, labels = blobs(64)
    images[40] = np.nan  # one corrupt image in the third batch of 16 (no shuffling below)
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32"))).batch(16)
    model = tiny_gan(3)
    model.fit(ds.take(2), epochs=1, verbose=0)  # epoch of good batches
    good = [w.numpy().copy() for w in model.weights]
    guard = callbacks.NaNGuard(verbose=False)
    history = model.fit(ds, epochs=3, verbose=0, callbacks=[guard])
    assert guard.triggered
    assert "d_loss became nan" in guard.message and "batch 3" in guard.message
    assert "rolled back to the start of training" in guard.message
    assert len(history.history["d_loss"]) == 1  # stopped in the first epoch
    for before, weight in zip(good, model.weights):
        np.testing.assert_array_equal(before, weight.numpy())
    assert all(np.isfinite(v.numpy()).all() for v in model.d_optimizer.variables)
    assert np.isfinite(model.generate(4)).all()


def test_d_at_chance_names_both_readings_and_only_suggests_what_the_model_does_not_do_yet():
    from types import SimpleNamespace

    old = SimpleNamespace(augment_policy=("translation",), ada_target=None, d_optimizer=SimpleNamespace(beta_1=0.5))
    new = SimpleNamespace(augment_policy=("translation",), ada_target=0.6, d_optimizer=SimpleNamespace(beta_1=0.0))
    old_remedies = callbacks.TrainingHealth._chance_remedies(old)
    assert any("ada_target" in r for r in old_remedies) and any("0.99" in r for r in old_remedies)
    assert callbacks.TrainingHealth._chance_remedies(new) == ["a faster D (d_lr 2x g_lr)"]
    model = tiny_gan(None)
    health = callbacks.TrainingHealth(real=blobs(32)[0], loss="hinge", chance_epochs=1, verbose=False)
    health.set_model(model)
    health.on_epoch_end(0, {**QUIET, "d_loss": 2.0})
    (alarm,) = [a for a in health.records[-1]["alarms"] if "D at chance" in a]
    assert "two readings" in alarm and "caught up" in alarm
