"""The EMA update under MirroredStrategy with mixed precision lands, exactly, on every replica.

Two logical CPU devices stand in for two GPUs; ``mixed_float16`` is forced on
(what ``accel.configure()`` picks on GPUs). Runs in a subprocess, because
logical devices must be set up before TensorFlow initialises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras
    from medgan_helpers import accel, gan, models, step_parts

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    setup = accel.configure(strategy=strategy, mixed_precision=True, verbose=False)
    with setup.scope():
        G = models.build_generator(32, 1, 8, 3, base_filters=4, max_filters=8)
        D = models.build_discriminator(32, 1, 3, base_filters=4, max_filters=8)
        model = gan.GAN(G, D, 8, 3, ema_decay=0.9)
        model.compile()
    rng = np.random.default_rng(0)
    w1 = [rng.standard_normal(w.shape).astype("float32") for w in G.weights]
    w0 = [rng.standard_normal(w.shape).astype("float32") for w in G.weights]
    G.set_weights(w1)
    model.ema_generator.set_weights(w0)
    model.g_optimizer.iterations.assign(10_000)  # past the ramp: decay = 0.9 exactly

    @tf.function
    def step():
        strategy.run(lambda: step_parts.update_ema(model.ema_generator, G, 0.9, model.g_optimizer.iterations))

    step()
    expected = [0.9 * a + 0.1 * b for a, b in zip(w0, w1)]
    worst = 0.0
    for ema_weight, want in zip(model.ema_generator.weights, expected):
        for replica_value in strategy.experimental_local_results(ema_weight.value):
            worst = max(worst, float(np.max(np.abs(np.asarray(replica_value) - want))))
    @tf.function
    def noise():
        return strategy.run(lambda: step_parts.latent_noise(4, 8, model.seed_generator))

    z0, z1 = (np.asarray(v) for v in strategy.experimental_local_results(noise()))
    print("RESULT " + json.dumps({
        "noise_shapes": [list(z0.shape), list(z1.shape)],
        "noise_differs": bool(np.abs(z0 - z1).max() > 1e-3),
        "policy": keras.mixed_precision.global_policy().name,
        "replicas": strategy.num_replicas_in_sync,
        "compute_dtype": G.layers[-3].compute_dtype,
        "worst_error": worst,
    }))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ema_update_is_exact_on_every_replica_under_mixed_precision(tmp_path):
    script = tmp_path / "ema.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["replicas"] == 2 and result["policy"] == "mixed_float16"
    assert result["compute_dtype"] == "float16"  # the models really compute in half precision
    # every replica holds exactly decay * w0 + (1 - decay) * w1 (float32 EMA weights of a float16 model)
    assert result["worst_error"] < 1e-5, result
    # each replica draws its own latents (not the same z on every device)
    assert result["noise_shapes"] == [[4, 8], [4, 8]] and result["noise_differs"]
