"""``steps_per_execution`` > 1 (several train steps per call into TensorFlow) through ``train()``.

Per-epoch callbacks (sample grids, health, history), NaN rollback and resume
must behave as with one step per call; the epoch here (5 steps) is not a
multiple of the chunk (2), so the last call of each epoch is a short one.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from medgan_helpers import recipe, training
from tests.helpers import blob_set, tiny_knobs

STEPS_PER_EPOCH = 5  # 80 images / batch 16


def _train(run_dir, **overrides):
    knobs = tiny_knobs(**{"steps_per_execution": 2, **overrides})
    return training.train(blob_set(80), run_dir=run_dir, verbose=0, display=False, **knobs)


def test_steps_per_execution_is_a_recipe_knob_and_is_checked():
    assert recipe.GAN_DEFAULTS["steps_per_execution"] == 16
    with pytest.raises(ValueError, match="steps_per_execution=0 must be an integer >= 1"):
        _train(None, steps_per_execution=0)
    with pytest.raises(ValueError, match="steps_per_epoch=5 is not a multiple of steps_per_execution=2"):
        _train(None, steps_per_epoch=5)


def test_the_recipe_default_fits_a_fixed_epoch_length():
    """A fixed ``steps_per_epoch`` the default does not divide lowers the default, never a chosen value."""
    fixed = recipe.gan_config(steps_per_execution=16, steps_per_epoch=75)
    assert training._steps_per_execution(fixed, chosen=False) == 15
    assert training._steps_per_execution(fixed.replace(steps_per_epoch=64), chosen=False) == 16
    assert training._steps_per_execution(fixed.replace(steps_per_epoch=7), chosen=False) == 7
    with pytest.raises(ValueError, match="steps_per_epoch=75 is not a multiple of steps_per_execution=16"):
        training._steps_per_execution(fixed, chosen=True)
    one_pass = recipe.gan_config(steps_per_execution=16)  # the last call of an epoch is just shorter
    assert training._steps_per_execution(one_pass, chosen=True) == 16


@pytest.mark.slow
def test_chunked_steps_keep_every_epoch_callback_and_the_step_count(tmp_path):
    result = _train(tmp_path / "run")
    assert result.gan.steps_per_execution == 2
    assert int(result.gan.g_optimizer.iterations.numpy()) == 2 * STEPS_PER_EPOCH  # no step lost or added
    assert sorted(p.name for p in result.run.samples_dir.glob("epoch_*.png")) == ["epoch_001.png", "epoch_002.png"]
    assert [r["epoch"] for r in result.health.records] == [1, 2]
    assert len(result.history["d_loss"]) == 2 and all(np.isfinite(result.history["d_loss"]))
    assert not result.nan_guard.triggered


class _AtEpochStart(keras.callbacks.Callback):
    """Calls ``action(model)`` when epoch ``epoch`` (counted from 0) begins."""

    def __init__(self, epoch: int, action):
        super().__init__()
        self.epoch, self.action = epoch, action

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.action(self.model)


def _interrupt(model):
    """Stops the process-level run, like a disconnect (no clean end)."""
    raise KeyboardInterrupt


def _poison(model):
    """Turns one weight of D into NaN: the next chunk's losses are NaN."""
    weight = model.discriminator.trainable_weights[0]
    weight.assign(np.full(weight.shape, np.nan, weight.dtype))


@pytest.mark.slow
def test_an_interrupted_chunked_run_resumes_where_it_stopped(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "run", epochs=3, callbacks=[_AtEpochStart(2, _interrupt)])
    result = _train(tmp_path / "run", epochs=3)
    assert int(result.gan.g_optimizer.iterations.numpy()) == 3 * STEPS_PER_EPOCH
    assert len(json.loads((result.run.path / "history.json").read_text())["d_loss"]) == 3
    assert [r["epoch"] for r in result.health.records] == [1, 2, 3]


@pytest.mark.slow
def test_nan_in_a_chunk_rolls_back_to_the_last_good_epoch(tmp_path):
    poison = _AtEpochStart(1, _poison)
    kept = {}

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                kept["weights"] = [w.numpy().copy() for w in self.model.weights]

    result = _train(tmp_path / "run", epochs=3, callbacks=[Keep(), poison])
    guard = result.nan_guard
    assert guard.triggered and "rolled back to the end of epoch 1" in guard.message
    assert "batch 2" in guard.message  # the end of the first chunk of two steps
    for before, weight in zip(kept["weights"], result.gan.weights):
        np.testing.assert_array_equal(before, weight.numpy())
    assert np.isfinite(result.gan.generate(4)).all()
