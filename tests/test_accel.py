"""Tests for medgan_helpers.accel: CPU detection, idempotence, and a real MirroredStrategy run.

The distributed path is tested for real: a subprocess splits the CPU into two
logical devices (this must happen before TensorFlow initialises, hence the
subprocess) and trains a tiny conditional GAN for a few steps on both replicas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from medgan_helpers import accel


def test_configure_on_cpu_is_float32_without_xla(capsys):
    accel.reset()
    setup = accel.configure()
    line = capsys.readouterr().out.strip()
    assert setup.kind == "cpu"
    assert setup.mixed_precision is False and setup.xla is False
    assert setup.num_replicas == 1
    assert line.startswith("Device: CPU") and "float32" in line and "XLA off" in line
    assert str(setup) == setup.description == line


def test_configure_is_idempotent_and_force_rechooses():
    accel.reset()
    first = accel.configure(verbose=False)
    assert accel.configure(verbose=False) is first
    assert accel.current() is first
    again = accel.configure(verbose=False, force=True)
    assert again is not first and again.kind == first.kind


def test_forcing_mixed_precision_sets_the_keras_policy():
    import keras

    try:
        setup = accel.configure(mixed_precision=True, verbose=False, force=True)
        assert setup.mixed_precision
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        accel.reset()
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mixed_precision_gan_uses_loss_scaling_and_float32_outputs():
    """Under mixed_float16 the GAN wraps its optimizers and still trains to finite losses."""
    import keras
    import numpy as np

    from medgan_helpers import models, training

    try:
        accel.configure(mixed_precision=True, verbose=False, force=True)
        G = models.build_generator(28, 1, 8, 2, base_filters=4, max_filters=8)
        D = models.build_discriminator(28, 1, 2, base_filters=4, max_filters=8)
        gan = training.GAN(G, D, 8, 2)
        gan.compile()
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
        logs = gan.fit(training.make_dataset(images, rng.integers(0, 2, 16), 8), epochs=1, verbose=0)
        assert all(np.isfinite(v[-1]) for v in logs.history.values())
        assert gan.generate(2).dtype == np.float32
    finally:
        accel.reset()


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    from medgan_helpers import accel, models, training

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    setup = accel.configure(strategy=strategy)
    rng = np.random.default_rng(0)
    images = np.tanh(rng.standard_normal((64, 32, 32, 1))).astype("float32")
    labels = rng.integers(0, 3, 64)
    with setup.scope():
        G = models.build_generator(32, 1, 8, 3, base_filters=4, max_filters=16)
        D = models.build_discriminator(32, 1, 3, base_filters=4, max_filters=16)
        gan = training.GAN(G, D, 8, 3, loss="hinge")
        gan.compile()
    before_g = [w.numpy().copy() for w in gan.generator.trainable_weights]
    before_ema = [w.numpy().copy() for w in gan.ema_generator.weights]
    history = gan.fit(training.make_dataset(images, labels, 16), epochs=1, verbose=0)
    out = {
        "replicas": setup.num_replicas,
        "strategy": type(gan.distribute_strategy).__name__,
        "kind": setup.kind,
        "logs": {k: float(v[-1]) for k, v in history.history.items()},
        "g_changed": any(not np.allclose(a, w.numpy()) for a, w in zip(before_g, gan.generator.trainable_weights)),
        "ema_changed": any(not np.allclose(a, w.numpy()) for a, w in zip(before_ema, gan.ema_generator.weights)),
        "iterations": int(gan.g_optimizer.iterations.numpy()),
        "sample_shape": list(gan.generate(4, seed=1).shape),
        "finite": bool(np.isfinite(gan.generate(4, seed=1)).all()),
    }
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MEDGAN_ARTIFACTS": str(tmp_path / "artifacts")}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=110, env=env
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["replicas"] == 2
    assert result["strategy"] == "MirroredStrategy"
    assert result["kind"] == "custom"
    assert "2 device(s)" in proc.stdout  # the one-line summary names both devices
    assert result["iterations"] == 4  # 64 images / global batch 16
    assert result["g_changed"] and result["ema_changed"]
    assert all(v == v and abs(v) < 1e6 for v in result["logs"].values()), result["logs"]
    assert result["sample_shape"] == [4, 32, 32, 1] and result["finite"]
