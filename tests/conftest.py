"""Shared pytest setup: quiet TensorFlow, a per-session artifacts directory."""

from __future__ import annotations

import os
import tempfile

# Before TensorFlow is imported anywhere: keep its C++ logging to warnings and up.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Unit tests never write into the user's artifacts/ folder.
os.environ.setdefault("MEDGAN_ARTIFACTS", tempfile.mkdtemp(prefix="medgan-test-artifacts-"))
