"""General file helpers: JSON that any reader accepts, and files published atomically.

Every JSON file the kit writes (run folders, reports, data cards, caches) goes
through :func:`write_json`: numpy values become plain numbers, NaN and inf become
``null`` (standard JSON has no NaN), and the file appears whole or not at all
(temporary sibling + ``os.replace``), so a reader never sees half a file, even
when the kernel dies mid-write. :func:`save_atomically` does the same for
anything that saves itself to a path (Keras models and weights).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers.pictures import write_atomic


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples and Paths made JSON-friendly and NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [json_ready(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.integer, bool, np.bool_)):
        return value.item() if hasattr(value, "item") else value
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (int, str)):
        return value
    return str(value)


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as standard JSON (NaN -> null), atomically."""
    text = json.dumps(json_ready(value), indent=2, allow_nan=False)
    return write_atomic(path, (text + "\n").encode("utf-8"))


def read_json_object(path: str | Path) -> dict | None:
    """A JSON file's top-level object, or None when the file is missing, unreadable, damaged or
    not an object: for files that are optional or may be half-written by another process."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def slug(text: str) -> str:
    """A file-system-safe name: ``"folder-1a2b3c4d"`` stays, ``"a b/c"`` -> ``"a_b_c"``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._-") or "run"


def _temporary_sibling(path: Path) -> Path:
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix="".join(path.suffixes), dir=path.parent)
    os.close(handle)
    os.unlink(tmp)  # Keras wants to create the file itself
    return Path(tmp)


def save_atomically(save: Callable[[Path], Any], path: Path) -> None:
    """``save(tmp)`` to a temporary sibling of ``path``, then publish it with ``os.replace``."""
    tmp = _temporary_sibling(path)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
