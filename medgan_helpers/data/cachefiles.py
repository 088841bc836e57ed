"""Cache files that several processes share safely: locks, temporary files, atomic publishing.

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
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


def remove_stale_temporaries(folder: Path, name: str) -> int:
    """Remove ``.<name>.*.part`` files in ``folder`` (call with the entry's lock held)."""
    removed = 0
    if folder.is_dir():
        for leftover in folder.glob(f".{name}.*.part"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
    return removed
