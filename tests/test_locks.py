"""The run lock (medgan_helpers.runlock): one holder under a real race, heartbeats, stale rules.

Issue 21: two processes locking the same run folder both "held" the lock in 17
of 40 tries, because the old lock checked and then wrote.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pytest

from medgan_helpers import runlock, runs

FOLDERS = 40


def _contender(root: str, barrier, results) -> None:
    """One of two processes: at each barrier, both try to lock the same fresh folder."""
    from medgan_helpers import runs as child_runs

    won = []
    for i in range(FOLDERS):
        run = child_runs.RunFolder(os.path.join(root, f"run{i:02d}"))
        barrier.wait()
        try:
            run.lock()
            won.append(i)
        except RuntimeError:
            pass
    results.put((os.getpid(), won))
    barrier.wait()  # hold every won lock until both have finished trying


@pytest.mark.timeout(60)
def test_two_processes_racing_for_40_folders_get_exactly_one_winner_each(tmp_path):
    for i in range(FOLDERS):
        (tmp_path / f"run{i:02d}").mkdir()
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_contender, args=(str(tmp_path), barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    won = dict(results.get(timeout=50) for _ in workers)
    for worker in workers:
        worker.join(timeout=20)
        assert worker.exitcode == 0
    per_folder = [sum(i in folders for folders in won.values()) for i in range(FOLDERS)]
    assert per_folder == [1] * FOLDERS, f"winners per folder: {per_folder}"
    # both processes exited without unlocking: their locks are stale now, so the folders are free
    assert all(runs.RunFolder(tmp_path / f"run{i:02d}").lock_holder() is None for i in range(FOLDERS))


def _plant(run: runs.RunFolder, **fields) -> None:
    (run / runs.LOCK).write_text(json.dumps(fields))


@pytest.fixture()
def run(tmp_path):
    folder = runs.RunFolder(tmp_path / "run")
    folder.path.mkdir()
    yield folder
    folder.unlock()


def test_a_lock_from_another_host_holds_while_it_beats_and_goes_stale_after_the_documented_age(run):
    now = time.time()
    _plant(run, pid=1, host="another-machine", heartbeat=now - 10)
    assert run.lock_holder()["host"] == "another-machine"
    with pytest.raises(RuntimeError, match="another-machine"):
        run.lock()
    _plant(run, pid=1, host="another-machine", heartbeat=now - runlock.STALE_AFTER_SECONDS - 5)
    assert run.lock_holder() is None
    run.lock()
    assert run.lock_holder()["host"] == socket.gethostname()


def test_a_dead_local_process_frees_the_lock_at_once_and_a_reused_pid_does_not_hold_it(run):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _plant(run, pid=int(dead.stdout), host=socket.gethostname(), heartbeat=time.time())
    assert run.lock_holder() is None
    # a Colab/container restart: the new kernel got the old kernel's pid, but never took this lock
    _plant(run, pid=os.getpid(), host=socket.gethostname(), heartbeat=time.time(), token="earlier")
    assert run.lock_holder() is None
    assert run.try_lock() and run.lock_holder()["token"] != "earlier"


def test_damaged_and_half_written_locks(run):
    (run / runs.LOCK).write_text("")  # a holder between O_EXCL and its first write
    assert run.lock_holder() == {"pid": None, "host": None, "note": "being written"}
    assert not run.try_lock()
    old = time.time() - runlock.STALE_AFTER_SECONDS - 5
    os.utime(run / runs.LOCK, (old, old))  # ... or a holder killed right there
    assert run.lock_holder() is None
    _plant(run, pid="not a pid", host=socket.gethostname(), heartbeat="odd")
    assert run.lock_holder() is None and run.try_lock()


def test_the_holder_refreshes_its_heartbeat_and_unlock_removes_only_its_own_lock(run, monkeypatch):
    monkeypatch.setattr(runlock, "HEARTBEAT_SECONDS", 0.05)
    run.lock()
    first = run.lock_holder()["heartbeat"]
    deadline = time.time() + 10
    while run.lock_holder()["heartbeat"] == first and time.time() < deadline:
        time.sleep(0.05)
    assert run.lock_holder()["heartbeat"] > first
    run.lock()  # re-entrant within the process that holds it
    run.unlock()
    assert not (run / runs.LOCK).exists()
    _plant(run, pid=1, host="another-machine", heartbeat=time.time())
    run.unlock()  # not ours: left alone
    assert (run / runs.LOCK).exists()
