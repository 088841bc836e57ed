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
