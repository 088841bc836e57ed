"""Throughput of ``GAN.fit`` against a hand-written ``@tf.function`` loop; peak RSS; determinism.

Usage::

    python benchmarks/throughput.py                 # 64 px, batch 32, 40 steps x 3 repeats
    python benchmarks/throughput.py --steps 20 --repeats 2 --skip-rss

What it measures, side by side in one process:

1. **kit**: ``training.GAN`` + ``fit`` with the same work as the hand loop
   (``augment=None``, ``ema_decay=None``), so the ratio isolates the cost of
   Keras' ``fit`` machinery and of the kit's bookkeeping (metrics, grad norms);
2. **hand loop**: the TensorFlow DCGAN tutorial's style — a ``@tf.function``
   step over a ``tf.data`` iterator — doing the same math (one D update, then
   one G update on fresh fakes, hinge loss, same G/D/optimizers/batch);
3. **kit, full**: the kit's default step (DiffAugment + EMA), for information;
4. **tutorial (simultaneous)**: the tutorial's cheaper variant that updates D
   and G from one forward pass, for information (different algorithm).

Images/s = batch x (steps - 1) / seconds from the end of the first step to the
end of the last (steady state: a real run is one ``fit`` call of thousands of
steps), median over interleaved repeats after a warm-up that traces every
function. Target: kit / hand loop >= 0.95. Images per CPU-second (process
time of all threads) is printed beside it: on a shared machine it is far less
disturbed by other processes than the wall clock. The wall-clock rate including each
``fit`` call's fixed setup (callbacks, iterator) is reported too.

Then, each in a fresh subprocess: peak RSS of a default 64 px brain-mri
training run (``training.default_config()``, one epoch) and determinism (two
runs with the same seed must give bit-identical samples).
Results go to ``artifacts/benchmarks/throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from medgan_helpers import config, models, training  # noqa: E402
from medgan_helpers import gan as gan_module  # noqa: E402


def _images(image_size: int, n: int) -> np.ndarray:
    try:
        from medgan_helpers import data

        return data.load_dataset("brain-mri", image_size=image_size, split="train").images[:n]
    except Exception:  # the data layer is optional for this benchmark
        rng = np.random.default_rng(0)
        return np.tanh(rng.standard_normal((n, image_size, image_size, 1))).astype("float32")


def _players(cfg: dict, image_size: int):
    G = models.build_generator(
        image_size, 1, cfg["latent_dim"], base_filters=cfg["g_base_filters"], max_filters=cfg["max_filters"]
    )
    D = models.build_discriminator(
        image_size, 1, base_filters=cfg["d_base_filters"], max_filters=cfg["max_filters"]
    )
    return G, D


def _adam(cfg):
    return keras.optimizers.Adam(cfg["g_lr"], beta_1=cfg["beta_1"], beta_2=cfg["beta_2"])


def make_kit(cfg, image_size, full=False):
    G, D = _players(cfg, image_size)
    gan = training.GAN(
        G, D, cfg["latent_dim"],
        augment="medical" if full else None, ema_decay=cfg["ema_decay"] if full else None,
    )
    gan.compile(g_optimizer=_adam(cfg), d_optimizer=_adam(cfg), loss="hinge")

    timer = _StepTimer()

    def run(dataset, steps):
        gan.fit(dataset.take(steps), epochs=1, verbose=0, callbacks=[timer])
        return timer.t1 - timer.t0, timer.c1 - timer.c0  # wall and CPU seconds, steps 2..N

    return run


class _StepTimer(keras.callbacks.Callback):
    """Clock from the end of the first step to the end of the last one."""

    def on_train_batch_end(self, batch, logs=None):
        float(logs["d_loss"])  # the step has finished
        now, cpu = time.perf_counter(), time.process_time()
        if batch == 0:
            self.t0, self.c0 = now, cpu
        self.t1, self.c1 = now, cpu


def make_hand_loop(cfg, image_size, simultaneous=False):
    G, D = _players(cfg, image_size)
    g_opt, d_opt = _adam(cfg), _adam(cfg)
    latent = cfg["latent_dim"]

    @tf.function
    def alternating_step(images):
        batch = tf.shape(images)[0]
        fakes = G(tf.random.normal([batch, latent]), training=True)
        with tf.GradientTape() as tape:
            real_out, fake_out = D(images, training=True), D(fakes, training=True)
            d_loss = gan_module.d_loss_hinge(real_out, fake_out)
        grads = tape.gradient(d_loss, D.trainable_variables)
        d_opt.apply_gradients(zip(grads, D.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = gan_module.g_loss_mean(D(G(tf.random.normal([batch, latent]), training=True), training=True))
        grads = tape.gradient(g_loss, G.trainable_variables)
        g_opt.apply_gradients(zip(grads, G.trainable_variables))
        return d_loss, g_loss

    @tf.function
    def simultaneous_step(images):  # the TensorFlow DCGAN tutorial's step
        noise = tf.random.normal([tf.shape(images)[0], latent])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fakes = G(noise, training=True)
            real_out, fake_out = D(images, training=True), D(fakes, training=True)
            g_loss = gan_module.g_loss_mean(fake_out)
            d_loss = gan_module.d_loss_hinge(real_out, fake_out)
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
        return d_loss, g_loss

    step = simultaneous_step if simultaneous else alternating_step

    def run(dataset, steps):
        for i, images in enumerate(dataset.take(steps)):
            losses = step(images)
            if i == 0:
                float(losses[0])  # the step has finished
                t0, c0 = time.perf_counter(), time.process_time()
        float(losses[0])  # wait for the last step
        return time.perf_counter() - t0, time.process_time() - c0  # wall and CPU seconds, steps 2..N

    return run


def measure_throughput(image_size: int, batch_size: int, steps: int, repeats: int) -> dict:
    cfg = training.default_config(quick=False)
    config.seed_everything(0)
    images = _images(image_size, max(batch_size * 8, 512))
    dataset = (
        tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=0).repeat()
        .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    )
    contenders = {
        "kit": make_kit(cfg, image_size),
        "hand loop": make_hand_loop(cfg, image_size),
        "kit, full (DiffAugment + EMA)": make_kit(cfg, image_size, full=True),
        "tutorial (simultaneous updates)": make_hand_loop(cfg, image_size, simultaneous=True),
    }
    for run in contenders.values():  # trace every function before timing
        run(dataset, 3)
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    per_cpu_second: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):  # interleaved, so load changes hit every contender alike
        for name, run in contenders.items():
            start = time.perf_counter()
            step_seconds, cpu_seconds = run(dataset, steps)
            wall[name].append(batch_size * steps / (time.perf_counter() - start))
            rates[name].append(batch_size * (steps - 1) / step_seconds)
            per_cpu_second[name].append(batch_size * (steps - 1) / cpu_seconds)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    wall_medians = {name: statistics.median(r) for name, r in wall.items()}
    cpu_medians = {name: statistics.median(r) for name, r in per_cpu_second.items()}
    return {
        "image_size": image_size,
        "batch_size": batch_size,
        "steps": steps,
        "repeats": repeats,
        "images_per_s": rates,
        "median_images_per_s": medians,
        "ratio_kit_vs_hand_loop": medians["kit"] / medians["hand loop"],
        "wall_images_per_s_including_fit_setup": wall,
        "median_wall_images_per_s": wall_medians,
        "wall_ratio_kit_vs_hand_loop": wall_medians["kit"] / wall_medians["hand loop"],
        "images_per_cpu_second": per_cpu_second,
        "median_images_per_cpu_second": cpu_medians,
        "cpu_ratio_kit_vs_hand_loop": cpu_medians["kit"] / cpu_medians["hand loop"],
    }


CHILD = """
import hashlib, json, resource, sys, time
from medgan_helpers import data, training
seed = int(sys.argv[1])
images = data.load_dataset("brain-mri", image_size=64, split="train")
start = time.time()
gan = training.train(images, run_dir=sys.argv[2], epochs=1, seed=seed, verbose=0, display=False, resume=False).gan
print("CHILD " + json.dumps({
    "seconds": time.time() - start,
    "steps": int(gan.g_optimizer.iterations.numpy()),
    "hash": hashlib.sha256(gan.generate(16, seed=0).tobytes()).hexdigest(),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_child(seed: int, run_dir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(seed), str(run_dir)],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CHILD ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"training subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("CHILD "):])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-rss", action="store_true", help="skip the RSS / determinism subprocesses")
    args = parser.parse_args(argv)

    result = {
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()})",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "throughput": measure_throughput(args.image_size, args.batch_size, args.steps, args.repeats),
    }
    t = result["throughput"]
    print(f"\nThroughput, {t['image_size']} px, batch {t['batch_size']}, {t['steps']} steps x {t['repeats']} repeats ({result['machine']})")
    print(f"{'contender':<34} {'median img/s':>12} {'img/CPU-s':>10}   all repeats (img/s)")
    for name, median in t["median_images_per_s"].items():
        runs = ", ".join(f"{r:.0f}" for r in t["images_per_s"][name])
        print(f"{name:<34} {median:>12.1f} {t['median_images_per_cpu_second'][name]:>10.1f}   {runs}")
    print(f"ratio kit / hand loop: {t['ratio_kit_vs_hand_loop']:.3f} (target >= 0.95)")
    print(
        f"ratio per CPU-second (less sensitive to other processes on the machine): "
        f"{t['cpu_ratio_kit_vs_hand_loop']:.3f}"
    )
    print(
        f"including each call's fixed setup ({t['steps']} steps per fit call): kit "
        f"{t['median_wall_images_per_s']['kit']:.1f} vs hand loop "
        f"{t['median_wall_images_per_s']['hand loop']:.1f} img/s, ratio {t['wall_ratio_kit_vs_hand_loop']:.3f}"
    )

    if not args.skip_rss:
        base = config.artifacts_dir() / "benchmarks" / "runs"
        first, second = run_child(0, base / "seed0-a"), run_child(0, base / "seed0-b")
        result["default_run_64px_one_epoch"] = {
            "seconds": [first["seconds"], second["seconds"]],
            "steps": first["steps"],
            "peak_rss_mb": max(first["peak_rss_mb"], second["peak_rss_mb"]),
        }
        result["determinism_same_seed_same_samples"] = first["hash"] == second["hash"]
        r = result["default_run_64px_one_epoch"]
        print(f"\nDefault 64 px run (1 epoch, {r['steps']} steps): peak RSS {r['peak_rss_mb']:.0f} MB (limit 4096 MB)")
        print(f"Determinism (two processes, same seed): {'identical samples' if result['determinism_same_seed_same_samples'] else 'DIFFERENT samples'}")

    out = config.artifacts_dir() / "benchmarks" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()
