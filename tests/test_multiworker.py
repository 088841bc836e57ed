"""Two worker processes on 127.0.0.1 train one GAN together with MultiWorkerMirroredStrategy.

Each worker runs the command-line trainer with its own ``TF_CONFIG`` (the same
two-worker cluster, its own task), its own artifacts folder and its own
temporary folder. Both must take the same optimizer steps with the same
all-reduced losses and end with the same trainable weights; only the chief
(worker 0) writes a run folder, whose generator loads and generates; the other
worker leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import runs

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "brain-mri", "--image-size", "32", "--quick", "--epochs", "2", "--max-images", "64",
        "--batch-size", "16", "--g-base-filters", "4", "--d-base-filters", "4", "--max-filters", "8",
        "--latent-dim", "8", "--verbose", "2"]
LAST_LINE = re.compile(r"^Trained (\d+) steps in \d+ s; weights fingerprint ([0-9a-f]{16}); (.*)$", re.M)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_the_chief_is_the_chief_task_else_worker_0():
    import tensorflow as tf

    from medgan_helpers import training

    def strategy_of(cluster: dict, task_type: str | None, task_id: int | None):
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
        return type("Strategy", (), {"cluster_resolver": resolver})()

    workers = {"worker": ["a:1", "b:1"]}
    assert training.is_chief(strategy_of(workers, "worker", 0))
    assert not training.is_chief(strategy_of(workers, "worker", 1))
    with_chief = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    assert training.is_chief(strategy_of(with_chief, "chief", 0))
    assert not training.is_chief(strategy_of(with_chief, "worker", 0))
    # one process: the default strategy and MirroredStrategy have no cluster, and write their run
    assert training.is_chief(tf.distribute.get_strategy()) and training.is_chief(None)
    assert training.is_chief(tf.distribute.MirroredStrategy(["/cpu:0"]))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_workers_train_in_sync_and_only_the_chief_writes(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        for name in (f"artifacts{index}", f"tmp{index}"):
            (tmp_path / name).mkdir()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "MEDGAN_ARTIFACTS": str(tmp_path / f"artifacts{index}"), "TMPDIR": str(tmp_path / f"tmp{index}")}
        log = (tmp_path / f"worker{index}.log").open("w")
        workers.append((subprocess.Popen([sys.executable, "-m", "medgan_helpers.train_cli", *TINY], cwd=ROOT,
                                         env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        codes = [process.wait(timeout=600) for process, _log in workers]
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    context = "\n".join(f"--- worker {i} ---\n{text[-4000:]}" for i, text in enumerate(logs))
    assert codes == [0, 0], context

    # both ran the same synchronous strategy, with the same global batch and number of steps
    for index, text in enumerate(logs):
        assert "MultiWorkerMirroredStrategy, 2 replicas" in text, context
        role = "the chief" if index == 0 else "not the chief"
        assert f"Task worker {index} of 2 ({role}): 2 replicas, global batch 16, 4 steps per epoch" in text
    ends = [LAST_LINE.search(text) for text in logs]
    assert all(ends), context
    steps, fingerprints = zip(*[(int(end.group(1)), end.group(2)) for end in ends])
    assert steps == (8, 8)  # 64 images / global batch 16 x 2 epochs, on both workers
    assert fingerprints[0] == fingerprints[1], context  # identical trainable weights of G, D and EMA-G
    # the losses Keras prints are all-reduced over both workers: the same numbers on each
    losses = [re.findall(r"- d_loss: (\S+) .*- g_loss: (\S+)", text) for text in logs]
    assert len(losses[0]) == 2 and losses[0] == losses[1], losses

    # the chief wrote the run (and says where, by name); its generator loads and generates
    run_name = re.fullmatch(r"the run is in (runs/\S+) \(under the artifacts folder\)", ends[0].group(3))
    assert run_name, ends[0].group(0)
    folder = tmp_path / "artifacts0" / run_name.group(1)
    config = runs.RunFolder(folder).config
    assert config["status"] == "finished" and config["steps"] == 8
    assert config["steps_per_epoch"] == 4 and config["knobs"]["steps_per_epoch"] == 4
    assert {"history.json", "health.json", runs.EMA_WEIGHTS, "samples/epoch_002.png"} <= set(_files(folder))
    images = runs.load_generator(folder).generate(4, seed=0)
    assert images.shape == (4, 32, 32, 1) and np.isfinite(images).all()

    # the other worker trained into a temporary folder and deleted it: nothing is left
    assert ends[1].group(3) == "the chief wrote the run; this worker's temporary files are deleted"
    assert _files(tmp_path / "artifacts1") == [] and list((tmp_path / "tmp1").iterdir()) == []
