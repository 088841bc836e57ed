"""Issue 21: the feature-extractor cache heals (a cut, damaged or unsafe entry is rebuilt with a
warning, never a crash) and writes its metadata atomically under the entry's lock."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from medgan_helpers.data import cachefiles
from medgan_helpers.evaluation import features

IMAGES = np.random.default_rng(0).uniform(-1, 1, (16, 16, 16, 1)).astype(np.float32)
LABELS = np.arange(16) % 2


def _extract(**kw):
    return features.classifier_feature_extractor(IMAGES, LABELS, "tiny", epochs=1, verbose=False, **kw)


@pytest.fixture()
def entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path))
    first = _extract()
    (keras_file,) = (tmp_path / "feature_extractors").glob("*.keras")
    return keras_file, keras_file.with_suffix(".json"), first(IMAGES)


def _damage_json(keras_file, meta):
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])


def _truncate_keras(keras_file, meta):
    keras_file.write_bytes(keras_file.read_bytes()[:200])


def _plant_lambda(keras_file, meta):
    import keras

    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="features")(keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, x).save(keras_file)


@pytest.mark.parametrize("damage", [_damage_json, _truncate_keras, _plant_lambda])
def test_a_cut_damaged_or_unsafe_entry_is_rebuilt_with_a_warning(entry, damage):
    keras_file, meta, before = entry
    damage(keras_file, meta)
    with pytest.warns(UserWarning, match="cut, damaged or unsafe.*rebuilding"):
        rebuilt = _extract()
    assert rebuilt.info["cached"] is False
    np.testing.assert_allclose(rebuilt(IMAGES), before, atol=1e-4)  # same seed: the same ruler again
    assert json.loads(meta.read_text())["feature_scale"] > 0
    assert _extract().info["cached"] is True  # healed: the next call reads it


def test_the_cache_is_read_under_its_lock(entry):
    keras_file, _, _ = entry
    done = threading.Event()
    with cachefiles.file_lock(keras_file):  # a writer holds the entry
        reader = threading.Thread(target=lambda: (_extract(), done.set()))
        reader.start()
        assert not done.wait(2.0)  # the reader waits for the writer
    reader.join(60)
    assert done.is_set()
    assert not list(keras_file.parent.glob(".*"))  # no temporary file left beside the entry
