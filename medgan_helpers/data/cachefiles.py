"""Caches: files that several processes share safely, and the few recent results kept in memory.

The rules every cache writer in :mod:`medgan_helpers.data` follows:

- a file is written under a temporary name (``.<name>.<random>.part``) in the
  folder it belongs to and published with ``os.replace``, so a reader sees the
  old file or the new one, never half a file;
- the temporary file is removed when the write fails (``temporary_file``);
- anything that deletes or rewrites cached files holds the cache entry's lock
  exclusively (:func:`file_lock`); readers hold it shared while they open files,
  so no file disappears between a check and its use. Temporary files of an
  entry can only be left by a killed process, and are removed under the lock.

Locks are ``fcntl.flock`` locks on a ``.lock`` file next to the entry (they are
released by the OS if the process dies). Where ``fcntl`` does not exist
(Windows) the lock is a no-op and only the atomic publishing protects readers.

:class:`RecentResults` keeps the last few results of reading a user's folder in
memory (loading train, val and test of one folder reads it once), keyed by a
hash that includes :func:`folder_fingerprint`, so a changed folder is read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def lock_path(path: Path) -> Path:
    """The lock file of a cache entry: ``<entry>.lock`` next to it."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the lock of cache entry ``path`` (exclusive, or ``shared`` for readers)."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def temporary_file(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, removed unless the caller published it.

    Publish with ``os.replace(tmp, target)`` inside the ``with`` block.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def publish_bytes(target: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``target`` atomically (temporary file + ``os.replace``)."""
    with temporary_file(target) as tmp:
        tmp.write_bytes(payload)
        os.replace(tmp, target)
    return target


def read_npz(path: Path, layout: dict[str, tuple[str, tuple[int, ...]]]) -> dict | None:
    """The arrays of a cached ``.npz``, or None if it is missing, damaged or not ``layout``.

    ``layout``: key -> (dtype, shape) of every array the file must hold, and nothing else.
    Every member is read in full, so each array's zip CRC-32 is checked: a truncated or
    bit-flipped file gives None (and is rebuilt), never an error.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception:  # missing, BadZipFile, CRC errors, bad headers, EOF, ...: rebuild
        return None
    if set(arrays) != set(layout):
        return None
    for key, (dtype, shape) in layout.items():
        if arrays[key].dtype != np.dtype(dtype) or arrays[key].shape != tuple(shape):
            return None
    return arrays


def load_or_build(path: Path, layout: dict[str, tuple[str, tuple[int, ...]]],
                  build: Callable[[], dict]) -> tuple[dict, dict]:
    """The cached arrays at ``path`` (see :func:`read_npz`), else ``build()`` them and publish them.

    The build runs under the entry's lock, so concurrent loaders build it once; the file is
    written to a temporary name and published with ``os.replace``. Returns the arrays and
    ``{"from_cache": bool, "build_seconds": float | None}``.
    """
    arrays = read_npz(path, layout)
    if arrays is not None:
        return arrays, {"from_cache": True, "build_seconds": None}
    with file_lock(path):
        arrays = read_npz(path, layout)  # built by another process meanwhile?
        if arrays is not None:
            return arrays, {"from_cache": True, "build_seconds": None}
        remove_stale_temporaries(path.parent, path.name)
        start = time.perf_counter()
        arrays = build()
        seconds = time.perf_counter() - start
        with temporary_file(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
    return arrays, {"from_cache": False, "build_seconds": seconds}


def remove_stale_temporaries(folder: Path, name: str) -> int:
    """Remove ``.<name>.*.part`` files in ``folder`` (call with the entry's lock held)."""
    removed = 0
    if folder.is_dir():
        for leftover in folder.glob(f".{name}.*.part"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
    return removed


def folder_fingerprint(root: Path) -> str:
    """A hash of every file's path, size, modification time and mode under ``root``.

    It changes when a file is added, removed, replaced or edited, so a result
    kept for the old folder is not reused. Not stored anywhere: it is hashed
    again into :meth:`RecentResults.key`.
    """
    digest = hashlib.sha256()
    for dirpath, _, filenames in sorted(os.walk(root)):
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            digest.update(os.fsencode(full) + f"\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return digest.hexdigest()


class RecentResults(Generic[T]):
    """The last ``keep`` results of an expensive read, by key; the oldest is dropped first.

    Memory only (it is never written anywhere). Reading the same folder for its
    train, val and test splits costs one read; at most ``keep`` folders' pixels
    are held, however many a session loads.
    """

    def __init__(self, keep: int = 4) -> None:
        if keep < 1:
            raise ValueError(f"keep={keep}: keep at least one result")
        self.keep = keep
        self._results: OrderedDict[str, T] = OrderedDict()

    @staticmethod
    def key(root: Path, *settings: Any) -> str:
        """The key of reading ``root`` with ``settings``: a hash that includes the folder's fingerprint."""
        text = repr((str(root), settings, folder_fingerprint(root)))
        return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()

    def get_or_make(self, key: str, make: Callable[[], T]) -> T:
        """The result kept for ``key``, else ``make()`` (kept, dropping the oldest beyond ``keep``)."""
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        result = make()
        self._results[key] = result
        while len(self._results) > self.keep:
            self._results.popitem(last=False)
        return result

    def clear(self) -> None:
        """Forget every kept result (the next load reads the folder again)."""
        self._results.clear()

    def __len__(self) -> int:
        return len(self._results)
