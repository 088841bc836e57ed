"""Shared pytest setup: quiet TensorFlow, a per-session artifacts directory, shared fixtures.

Fixtures that more than one test file needs live here (pytest finds them by name);
plain helper functions and tiny models live in ``tests/helpers.py``.
"""

from __future__ import annotations

import os
import tempfile

# Before TensorFlow is imported anywhere: keep its C++ logging to warnings and up.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Unit tests never write into the user's artifacts/ folder.
os.environ.setdefault("MEDGAN_ARTIFACTS", tempfile.mkdtemp(prefix="medgan-test-artifacts-"))


import pytest  # noqa: E402

#: Variables that change what the notebooks nbval runs later in the same process do.
_SETTINGS = ("MEDGAN_QUICK", "MEDGAN_ARTIFACTS", "MEDGAN_CACHE_DIR")


@pytest.fixture(autouse=True)
def _settings_unchanged():
    """A test that leaves MEDGAN_QUICK (or the folders) changed fails, naming the variable.

    Once, a test popped MEDGAN_QUICK after using it, and every notebook nbval ran
    after it trained with full settings until the cell timeout.
    """
    before = {name: os.environ.get(name) for name in _SETTINGS}
    yield
    after = {name: os.environ.get(name) for name in _SETTINGS}
    changed = {name: (before[name], after[name]) for name in _SETTINGS if before[name] != after[name]}
    assert not changed, f"this test changed environment variables (before, after): {changed}; use monkeypatch.setenv"


@pytest.fixture()
def artifacts(tmp_path, monkeypatch):
    """A fresh, empty artifacts folder for this test (runs are written under ``artifacts/runs``)."""
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder for this test: nothing is read from another test's cache."""
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def sampler_generator():
    """A tiny conditional generator (32 px, 4 classes, latent 16) with random weights, for the sampler tests."""
    import keras

    from medgan_helpers import models

    keras.utils.set_random_seed(0)
    return models.build_generator(32, 1, 16, num_classes=4, base_filters=8, max_filters=32)


@pytest.fixture(scope="module")
def brain32():
    """Every 8th training image of the real ``brain-mri`` set at 32 px: all four classes, fast to search."""
    import numpy as np

    from medgan_helpers import data

    full = data.load_dataset("brain-mri", image_size=32, split="train")
    return full.subset(np.arange(0, len(full), 8))
