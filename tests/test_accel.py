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

    from medgan_helpers import data, models, training

    try:
        accel.configure(mixed_precision=True, verbose=False, force=True)
        G = models.build_generator(28, 1, 8, 2, base_filters=4, max_filters=8)
        D = models.build_discriminator(28, 1, 2, base_filters=4, max_filters=8)
        gan = training.GAN(G, D, 8, 2)
        gan.compile()  # the models compute in float16, so the optimizers get loss scaling
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
        batches = data.to_tf_dataset(data.from_arrays(images, rng.integers(0, 2, 16)), batch_size=8)
        logs = gan.fit(batches, epochs=1, verbose=0)
        assert all(np.isfinite(v[-1]) for v in logs.history.values())
        assert gan.generate(2).dtype == np.float32
    finally:
        accel.reset()


# -- what configure() decides for what it finds (no GPU or TPU needed) --------------


@pytest.mark.parametrize(
    "kind, replicas, capabilities, expected_mp, expected_xla",
    [
        ("cpu", 1, (), False, False),
        ("gpu", 1, ((7, 5),), True, True),  # T4
        ("gpu", 1, ((6, 0),), False, True),  # P100: float16 is not faster
        ("multi-gpu", 2, ((8, 0), (8, 0)), True, False),  # XLA off with several replicas
        ("tpu", 8, (), True, False),
    ],
)
def test_decide_mixed_precision_and_xla(kind, replicas, capabilities, expected_mp, expected_xla):
    use_mp, use_xla, notes = accel.decide(kind, replicas, capabilities)
    assert (use_mp, use_xla) == (expected_mp, expected_xla)
    if kind == "multi-gpu":
        assert any("XLA off with 2 replicas" in note and "merge_call" in note for note in notes)
    if capabilities and capabilities[0][0] < 7:
        assert any("compute capability < 7" in note for note in notes)


def test_xla_stays_off_with_several_replicas_even_when_forced():
    use_mp, use_xla, notes = accel.decide("multi-gpu", 4, ((7, 5),) * 4, mixed_precision=True, xla=True)
    assert use_mp is True and use_xla is False
    assert notes == ["XLA off with 4 replicas (MirroredStrategy + mixed precision + XLA crashes in merge_call)"]
    assert accel.decide("gpu", 1, ((7, 5),), xla=True)[1] is True  # one replica: as asked


@pytest.fixture
def no_tpu_signs(monkeypatch):
    for name in ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    accel.reset()


def test_without_tpu_signs_no_tpu_is_probed(no_tpu_signs):
    import tensorflow as tf

    if accel._tpu_hints():
        pytest.skip(f"this machine shows TPU signs: {accel._tpu_hints()}")
    # the retired Colab TPU-node address is no sign of a TPU any more
    no_tpu_signs.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    no_tpu_signs.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                         lambda *a, **k: pytest.fail("probed for a TPU"))
    setup = accel.configure(verbose=False, force=True)
    assert setup.kind == "cpu" and setup.notes == []


def test_a_tpu_that_cannot_be_used_is_reported_with_what_was_chosen(no_tpu_signs, capsys):
    import tensorflow as tf

    asked = []

    class NoTPUHere:  # what TensorFlow raises on a machine whose TPU it cannot reach
        def __init__(self, *args, **kwargs):
            asked.append((args, kwargs))
            raise ValueError("Please provide a TPU Name to connect to.\nmore detail")

    no_tpu_signs.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-8")
    no_tpu_signs.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", NoTPUHere)
    setup = accel.configure(verbose=False, force=True)
    assert asked == [((), {"tpu": "local"})]  # the Cloud TPU VM way, not the retired TPU node
    assert setup.kind == "cpu"
    note = setup.notes[0]
    assert "$TPU_ACCELERATOR_TYPE" in note and "ValueError: Please provide a TPU Name" in note
    assert note.endswith(f"using CPU ({os.cpu_count()} cores) instead")
    assert note in capsys.readouterr().out  # said even with verbose=False


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    from medgan_helpers import accel, data, models, training

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    forced = sys.argv[1:] == ["--mixed-precision-and-xla"]  # what several GPUs would ask for
    setup = accel.configure(strategy=strategy, mixed_precision=forced, xla=forced)
    rng = np.random.default_rng(0)
    images = np.tanh(rng.standard_normal((64, 32, 32, 1))).astype("float32")
    labels = rng.integers(0, 3, 64)
    with setup.scope():
        G = models.build_generator(32, 1, 8, 3, base_filters=4, max_filters=16)
        D = models.build_discriminator(32, 1, 3, base_filters=4, max_filters=16)
        gan = training.GAN(G, D, 8, 3)
        gan.compile(loss="hinge", jit_compile=setup.xla)
    before_g = [w.numpy().copy() for w in gan.generator.trainable_weights]
    before_ema = [w.numpy().copy() for w in gan.ema_generator.weights]
    history = gan.fit(data.to_tf_dataset(data.from_arrays(images, labels), batch_size=16), epochs=1, verbose=0)
    out = {
        "replicas": setup.num_replicas,
        "strategy": type(gan.distribute_strategy).__name__,
        "kind": setup.kind,
        "policy": __import__("keras").mixed_precision.global_policy().name,
        "xla": setup.xla,
        "jit_compile": bool(gan.jit_compile),
        "notes": setup.notes,
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
@pytest.mark.parametrize("forced", [False, True], ids=["float32", "mixed_float16+xla-asked"])
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, forced):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MEDGAN_ARTIFACTS": str(tmp_path / "artifacts")}
    proc = subprocess.run(
        [sys.executable, str(script), *(["--mixed-precision-and-xla"] if forced else [])],
        capture_output=True, text=True, timeout=600, env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["replicas"] == 2
    assert result["strategy"] == "MirroredStrategy"
    assert result["kind"] == "custom"
    assert "2 device(s)" in proc.stdout  # the one-line summary names both devices
    # XLA is never on with several replicas, even when asked for, and the summary says why
    assert result["xla"] is False and result["jit_compile"] is False
    assert result["policy"] == ("mixed_float16" if forced else "float32")
    assert bool(result["notes"]) == forced and (not forced or "merge_call" in result["notes"][0])
    assert result["iterations"] == 4  # 64 images / global batch 16
    assert result["g_changed"] and result["ema_changed"]
    assert all(v == v and abs(v) < 1e6 for v in result["logs"].values()), result["logs"]
    assert result["sample_shape"] == [4, 32, 32, 1] and result["finite"]
