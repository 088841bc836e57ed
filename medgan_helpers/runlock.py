"""The lock a live training run holds on its folder (``run.lock``), atomic and with a heartbeat.

Guarantees (the README's robustness section repeats them):

- **One holder.** A lock is taken by creating ``run.lock`` with
  ``os.open(O_CREAT | O_EXCL)``: of two processes that try at the same moment,
  exactly one creates the file. Checking for a stale lock, removing it and
  creating the new one happen while holding an ``fcntl.flock`` guard on
  ``<run>/.lock-guard.lock``, so on one machine no process can remove a lock that
  another has just taken.
- **Heartbeat.** The holder rewrites the lock's ``heartbeat`` (epoch seconds)
  every :data:`HEARTBEAT_SECONDS` from a background thread.
- **Stale locks.** A lock is free again when
  - its host is this machine and its process is gone (at once), or its pid is
    this process's although this process never took it (a container or Colab
    runtime restarted and reused the pid);
  - its heartbeat is older than :data:`STALE_AFTER_SECONDS`, whatever the host.
    This is the only rule for a lock written on another machine (its pid cannot
    be checked from here), and it also frees a lock whose pid was reused by an
    unrelated process.
  A holder suspended (a laptop asleep) for longer than that can lose its lock;
  its heartbeat then notices and warns.

Across machines that share a folder, creation stays atomic (``O_EXCL``), but
removing a stale lock is only as safe as ``flock`` on that file system.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medgan_helpers.data import cachefiles
from medgan_helpers.fileio import read_json_object

#: how often a holder refreshes its heartbeat
HEARTBEAT_SECONDS = 30.0
#: a lock whose heartbeat is older than this is stale (10 missed heartbeats)
STALE_AFTER_SECONDS = 300.0
GUARD = ".lock-guard"


@dataclass
class _Held:
    token: str
    pid: int
    stop: threading.Event
    thread: threading.Thread


#: the locks this process holds, by lock path; a forked child inherits the dict, not the locks
_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


def _key(path: Path) -> str:
    return str(Path(path).absolute())


def _mine(path: Path) -> _Held | None:
    held = _held.get(_key(path))
    return held if held is not None and held.pid == os.getpid() else None


@contextlib.contextmanager
def _guarded(path: Path):
    """Serialise check-break-create (and heartbeats) among the processes of this machine."""
    with _held_guard, cachefiles.file_lock(path.parent / GUARD):
        yield


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no number here


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process: it exists
    return True


def holder(path: Path) -> dict | None:
    """Who holds the lock at ``path`` (its JSON), or None when it is free or stale."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    info = read_json_object(path)
    if info is None:
        # empty or half written: a holder is creating it right now, unless it has stayed so
        if time.time() - mtime > STALE_AFTER_SECONDS:
            return None
        return {"pid": None, "host": None, "note": "being written"}
    beat = _number(info.get("heartbeat"))
    age = time.time() - (beat if beat is not None else mtime)  # old locks had no heartbeat field
    if age > STALE_AFTER_SECONDS:
        return None
    pid = _number(info.get("pid"))
    if info.get("host") == socket.gethostname():
        if pid is None or not _pid_alive(int(pid)):
            return None  # its process died without unlocking
        if int(pid) == os.getpid():
            mine = _mine(path)
            if mine is None or mine.token != info.get("token"):
                return None  # our pid, but an earlier process's lock (the pid was reused)
    return info


def acquire(path: Path) -> bool:
    """Take the lock at ``path``; True when this process holds it now (also if it already did)."""
    path = Path(path)
    with _guarded(path):
        mine = _mine(path)
        if mine is not None and (read_json_object(path) or {}).get("token") == mine.token:
            return True
        if holder(path) is not None:
            return False
        path.unlink(missing_ok=True)  # stale (or absent): nobody can take it in between, we hold the guard
        token = secrets.token_hex(8)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False  # another machine on a shared folder was quicker
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_content(token, since=_now()))
            out.flush()
            os.fsync(out.fileno())
        stop = threading.Event()
        thread = threading.Thread(target=_heartbeat, args=(path, token, stop), daemon=True,
                                  name=f"run-lock heartbeat {path.parent.name}")
        _held[_key(path)] = _Held(token, os.getpid(), stop, thread)
    thread.start()
    return True


def release(path: Path) -> None:
    """Give the lock at ``path`` back (only if this process holds it)."""
    path = Path(path)
    mine = _mine(path)
    if mine is None:
        return
    mine.stop.set()
    if mine.thread is not threading.current_thread():
        mine.thread.join(timeout=10)
    with _guarded(path):
        if (read_json_object(path) or {}).get("token") == mine.token:
            path.unlink(missing_ok=True)
        _held.pop(_key(path), None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _content(token: str, since: str) -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since,
                       "heartbeat": time.time(), "token": token}, indent=2) + "\n"


def _heartbeat(path: Path, token: str, stop: threading.Event) -> None:
    # the module global is read every beat, so a test (or a user) can change the pace
    while not stop.wait(HEARTBEAT_SECONDS):
        with _guarded(path):
            if stop.is_set():
                return
            current = read_json_object(path)
            if current is None or current.get("token") != token:
                print(f"warning: run {path.parent.name} lost its lock (no heartbeat for over "
                      f"{STALE_AFTER_SECONDS:.0f} s, the process was probably suspended); another "
                      "process may now write into it.", file=sys.stderr)
                return
            cachefiles.publish_bytes(path, _content(token, str(current.get("since"))).encode("utf-8"))
