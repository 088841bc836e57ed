"""Paths, quick mode and seeding shared by every module and notebook.

Environment variables (all optional):

- ``MEDGAN_QUICK=1``      shrink every notebook knob so the suite runs on a 2-core CPU
- ``MEDGAN_PRESET=lab``   the lighter settings of the main job (``python3 kit.py run``):
                          a notebook whose parameters cell reads :func:`preset` trains
                          and measures less; ``full`` (the default) is what its stored
                          outputs were built with
- ``MEDGAN_CACHE_DIR``    where built / downloaded datasets are cached
                          (default: ``<repo>/data/cache`` in a checkout, else
                          ``~/.cache/medgan``)
- ``MEDGAN_ARTIFACTS``    where runs, reports and executed notebooks go
                          (default: ``<repo>/artifacts`` in a checkout, else
                          ``./artifacts``)
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent


def _find_repo_root() -> Path | None:
    """The checkout this package lives in (None when installed as a wheel)."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").is_file() and (candidate / "notebooks").is_dir():
        return candidate
    return None


REPO_ROOT: Path | None = _find_repo_root()


def is_quick() -> bool:
    """True when ``MEDGAN_QUICK`` asks for the shrunken, CI-sized settings."""
    return os.environ.get("MEDGAN_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


#: The settings a notebook can be run with: its stored outputs ("full"), the main job's
#: lighter ones that fit a 35-minute run of notebooks 01-11 on a 2-core CPU ("lab"), the tests' ("quick").
PRESETS = ("full", "lab", "quick")


def preset() -> str:
    """``"quick"`` under ``MEDGAN_QUICK=1``; else ``MEDGAN_PRESET`` (``"full"`` when unset, or ``"lab"``).

    Read by the parameters cells of the notebooks that have lighter settings for
    the main job (``python3 kit.py run`` sets ``MEDGAN_PRESET=lab``; the runner says
    which notebooks ran with them).
    """
    if is_quick():
        return "quick"
    value = os.environ.get("MEDGAN_PRESET", "").strip().lower() or "full"
    if value not in PRESETS or value == "quick":
        raise ValueError(f"MEDGAN_PRESET={value!r} is not a preset: use 'full' (the stored outputs' settings) "
                         "or 'lab' (the main job's lighter ones), or unset it; MEDGAN_QUICK=1 selects 'quick'.")
    return value


def quick_or(full, quick):
    """Return ``quick`` in quick mode, else ``full`` — used in ``parameters`` cells."""
    return quick if is_quick() else full


def cache_dir() -> Path:
    """Directory for built and downloaded datasets (created on demand)."""
    env = os.environ.get("MEDGAN_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
    elif REPO_ROOT is not None:
        path = REPO_ROOT / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "medgan"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """Directory for trained runs, reports and executed notebooks (created on demand)."""
    env = os.environ.get("MEDGAN_ARTIFACTS")
    if env:
        path = Path(env).expanduser()
    elif REPO_ROOT is not None:
        path = REPO_ROOT / "artifacts"
    else:
        path = Path.cwd() / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pretrained_dir() -> Path:
    """Directory holding the shipped pretrained models (``data/pretrained``)."""
    if REPO_ROOT is not None:
        return REPO_ROOT / "data" / "pretrained"
    return PACKAGE_DIR / "pretrained"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if imported) Keras/TensorFlow in one call."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # pragma: no cover - keras is a hard dependency
        pass
