"""Training speed: the kit's ``GAN.fit`` against hand-written ``tf.function`` loops.

Usage::

    python benchmarks/throughput.py                       # everything (~40 min on a 2-core CPU)
    python benchmarks/throughput.py --sizes 32 --repeats 1 --only speed   # a quick look
    python benchmarks/throughput.py --only threads pipeline recipe

Sections (``--only`` picks some; results go to ``artifacts/benchmarks/throughput.json``):

``speed``
    At each image size (32, 64, 128 px; batch 32; the recipe's networks) and in
    one process, interleaved repeats of:

    - **hand loop, plain**: the TensorFlow DCGAN tutorial's style, a
      ``@tf.function`` step over a ``tf.data`` iterator, one D update then one
      G update on fresh fakes, hinge loss — nothing else;
    - **kit fit, plain**: ``GAN.fit`` doing the same math (``augment=None``,
      ``ema_decay=None``, unconditional), with Keras's ``steps_per_execution``
      1, 4, 16 and 32;
    - **hand loop, full recipe**: ``@tf.function(GAN.train_step)`` over the
      recipe's conditional GAN (ADA-steered augmentation, EMA, trackers): the
      kit's own step with no ``fit`` around it;
    - **kit fit, full recipe**: the same GAN trained by ``fit`` at
      ``steps_per_execution`` 1 and the recipe's default.

    Each timing covers a whole call (``fit``'s or the loop's set-up included,
    as a user pays it) after a warm-up call that traced every function;
    images per wall-clock second and per CPU-second (process time of all
    threads, less disturbed by other processes) are medians over the repeats.
``threads``
    The full recipe at 64 px under intra-/inter-op thread settings, each in a
    fresh process (TensorFlow fixes them at start-up).
``pipeline``
    How fast ``data.to_tf_dataset`` hands out batches (cached or not) against
    what a training step consumes, and the full recipe fed by the real
    pipeline against one fixed in-memory batch (the pipeline's cost to training).
``recipe``
    Notebook 04's call, ``training.train`` with the ``lab`` preset (callbacks,
    sample grids, health checks included) for 2 epochs, at
    ``steps_per_execution`` 1 (the default until 2026-12) and the recipe's
    default: steps per second before and after.
``rss``
    Peak RSS of a default 64 px run (one epoch) and determinism (two processes,
    same seed, bit-identical samples).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


SECTIONS = ("speed", "threads", "pipeline", "recipe", "rss")
#: Steps per timed call at each size: a few seconds to half a minute on a 2-core CPU.
STEPS = {32: 128, 64: 64, 128: 32}
SPE_SWEEP = (1, 4, 16, 32)
BATCH = 32


def _tf():
    import tensorflow as tf

    return tf


def _brain(image_size: int):
    from medgan_helpers import data

    return data.load_dataset("brain-mri", image_size=image_size, split="train", seed=0)


def _config(image_size: int, class_names, plain: bool, **knobs):
    from medgan_helpers import recipe

    if plain:
        knobs = {"augment": None, "ada_target": None, "ema_decay": None, "conditional": False, **knobs}
    return recipe.gan_config(**knobs).for_data(image_size, 1, class_names)


def _gan(cfg, steps_per_execution: int = 1):
    from medgan_helpers import config, recipe
    from medgan_helpers.gan import GAN

    config.seed_everything(cfg.seed)
    gan = GAN.from_config(cfg)
    gan.compile(*recipe.optimizers(cfg), loss=cfg.loss, jit_compile=False,
                steps_per_execution=steps_per_execution)
    return gan


def _clock(work) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``work()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def kit_fit(gan):
    def run(dataset, steps):
        return _clock(lambda: gan.fit(dataset.take(steps), epochs=1, verbose=0, shuffle=False))

    return run


def hand_loop_plain(cfg):
    """The tutorial-style loop on the networks ``cfg`` builds, with the kit's hinge losses."""
    tf = _tf()
    from medgan_helpers import losses, recipe
    from medgan_helpers.gan import GAN

    players = GAN.from_config(cfg)  # only for its freshly built G and D
    G, D = players.generator, players.discriminator
    g_opt, d_opt = recipe.optimizers(cfg)
    d_loss_fn, g_loss_fn = losses.get(cfg.loss)
    latent = cfg.latent_dim

    @tf.function
    def step(images):
        batch = tf.shape(images)[0]
        fakes = G(tf.random.normal([batch, latent]), training=True)
        with tf.GradientTape() as tape:
            d_loss = d_loss_fn(D(images, training=True), D(fakes, training=True))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = g_loss_fn(D(G(tf.random.normal([batch, latent]), training=True), training=True))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        return d_loss

    return _loop(step)


def hand_loop_train_step(gan):
    """``GAN.train_step`` itself in a ``tf.function`` loop: the kit's step without ``fit``."""
    step = _tf().function(gan.train_step)

    def wrapped(batch):
        return step(batch)["d_loss"]

    return _loop(wrapped)


def _loop(step):
    def run(dataset, steps):
        def work():
            for batch in dataset.take(steps):
                loss = step(batch)
            float(loss)  # wait for the last step

        return _clock(work)

    return run


def _datasets(imageset):
    from medgan_helpers import data

    images = data.to_tf_dataset(imageset, batch_size=BATCH, seed=0, include_labels=False).repeat()
    labelled = data.to_tf_dataset(imageset, batch_size=BATCH, seed=0, include_labels=True).repeat()
    return images, labelled


def measure_speed(image_size: int, repeats: int, steps: int, default_spe: int) -> dict:
    imageset = _brain(image_size)
    names = imageset.class_names
    plain, full = _config(image_size, names, True), _config(image_size, names, False)
    images, labelled = _datasets(imageset)
    contenders = {"hand loop, plain": (hand_loop_plain(plain), images)}
    for spe in SPE_SWEEP:
        contenders[f"kit fit, plain, spe={spe}"] = (kit_fit(_gan(plain, spe)), images)
    contenders["hand loop, full recipe"] = (hand_loop_train_step(_gan(full)), labelled)
    for spe in sorted({1, default_spe}):
        contenders[f"kit fit, full recipe, spe={spe}"] = (kit_fit(_gan(full, spe)), labelled)
    for run, dataset in contenders.values():  # trace every function before timing
        run(dataset, max(SPE_SWEEP))
    wall = {name: [] for name in contenders}
    cpu = {name: [] for name in contenders}
    for _ in range(repeats):  # interleaved, so a change of load hits every contender alike
        for name, (run, dataset) in contenders.items():
            seconds, cpu_seconds = run(dataset, steps)
            wall[name].append(BATCH * steps / seconds)
            cpu[name].append(BATCH * steps / cpu_seconds)
    med_wall = {name: statistics.median(v) for name, v in wall.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    return {"image_size": image_size, "batch_size": BATCH, "steps": steps, "repeats": repeats,
            "images_per_s": wall, "images_per_cpu_s": cpu,
            "median_images_per_s": med_wall, "median_images_per_cpu_s": med_cpu}


def print_speed(t: dict) -> None:
    base = {"plain": "hand loop, plain", "full recipe": "hand loop, full recipe"}
    print(f"\n{t['image_size']} px, batch {t['batch_size']}, {t['steps']} steps per call, "
          f"median of {t['repeats']} interleaved repeats")
    print(f"{'contender':<30}{'img/s':>9}{'img/CPU-s':>11}{'wall ratio':>12}{'CPU ratio':>11}")
    for name, rate in t["median_images_per_s"].items():
        ref = base["full recipe" if "full recipe" in name else "plain"]
        print(f"{name:<30}{rate:>9.1f}{t['median_images_per_cpu_s'][name]:>11.1f}"
              f"{rate / t['median_images_per_s'][ref]:>12.2f}"
              f"{t['median_images_per_cpu_s'][name] / t['median_images_per_cpu_s'][ref]:>11.2f}")


# ---------------------------------------------------------------- threads (one process each)

THREAD_SETTINGS = ((0, 0), (1, 1), (2, 1), (1, 2), (2, 2))


def _thread_child(intra: int, inter: int, spe: int, steps: int, repeats: int) -> dict:
    tf = _tf()
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    imageset = _brain(64)
    _, labelled = _datasets(imageset)
    run = kit_fit(_gan(_config(64, imageset.class_names, False), spe))
    run(labelled, spe)
    rates = [BATCH * steps / run(labelled, steps)[0] for _ in range(repeats)]
    return {"intra": intra, "inter": inter, "images_per_s": statistics.median(rates)}


def measure_threads(spe: int, repeats: int) -> list[dict]:
    out = []
    for intra, inter in THREAD_SETTINGS:
        proc = subprocess.run(
            [sys.executable, __file__, "--thread-child", str(intra), str(inter), str(spe), str(repeats)],
            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("CHILD ")]
        if proc.returncode or not lines:
            raise RuntimeError(f"thread child {intra}/{inter} failed:\n{proc.stderr[-3000:]}")
        out.append(json.loads(lines[-1][len("CHILD "):]))
        row = out[-1]
        print(f"intra={intra} inter={inter} (0 = TensorFlow's choice): {row['images_per_s']:.1f} img/s", flush=True)
    return out


# ---------------------------------------------------------------- input pipeline

def measure_pipeline(spe: int, repeats: int) -> dict:
    tf = _tf()
    from medgan_helpers import data

    imageset = _brain(64)
    result = {}
    for cache in (True, False):
        ds = data.to_tf_dataset(imageset, batch_size=BATCH, seed=0, include_labels=True, cache=cache).repeat()
        it = iter(ds)
        next(it)
        start = time.perf_counter()
        for _ in range(300):
            next(it)
        result[f"pipeline alone, cache={cache}"] = BATCH * 300 / (time.perf_counter() - start)
    real = data.to_tf_dataset(imageset, batch_size=BATCH, seed=0, include_labels=True).repeat()
    fixed = tf.data.Dataset.from_tensors(next(iter(real))).repeat()
    gan = _gan(_config(64, imageset.class_names, False), spe)
    run = kit_fit(gan)
    run(real, spe)
    run(fixed, spe)
    steps = STEPS[64]
    rates = {"full recipe fed by the pipeline": [], "full recipe fed one fixed batch": []}
    for _ in range(repeats):
        rates["full recipe fed by the pipeline"].append(BATCH * steps / run(real, steps)[0])
        rates["full recipe fed one fixed batch"].append(BATCH * steps / run(fixed, steps)[0])
    result.update({name: statistics.median(v) for name, v in rates.items()})
    for name, value in result.items():
        print(f"{name:<40}{value:>10.1f} img/s")
    return result


# ---------------------------------------------------------------- notebook 04's call

def measure_recipe(spes: list[int], repeats: int) -> dict:
    from medgan_helpers import training

    imageset = _brain(64)
    rates: dict[int, list[float]] = {spe: [] for spe in spes}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(repeats):
            for spe in spes:
                result = training.train(imageset, run_dir=Path(scratch) / f"spe{spe}-{r}", preset="lab", epochs=2,
                                        steps_per_execution=spe, verbose=0, display=False, resume=False)
                steps = int(result.gan.g_optimizer.iterations.numpy())
                rates[spe].append(steps / result.seconds)
                print(f"  lab preset, spe={spe}: {steps} steps in {result.seconds:.1f} s", flush=True)
    medians = {spe: statistics.median(v) for spe, v in rates.items()}
    first = spes[0]
    for spe, rate in medians.items():
        print(f"notebook 04's call, spe={spe}: {rate:.2f} steps/s ({rate / medians[first]:.2f}x spe={first})")
    return {"steps_per_s": {str(k): v for k, v in rates.items()},
            "median_steps_per_s": {str(k): v for k, v in medians.items()}}


# ---------------------------------------------------------------- peak RSS and determinism

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


def measure_rss() -> dict:
    from medgan_helpers import config

    base = config.artifacts_dir() / "benchmarks" / "runs"
    first, second = run_child(0, base / "seed0-a"), run_child(0, base / "seed0-b")
    out = {"seconds": [first["seconds"], second["seconds"]], "steps": first["steps"],
           "peak_rss_mb": max(first["peak_rss_mb"], second["peak_rss_mb"]),
           "determinism_same_seed_same_samples": first["hash"] == second["hash"]}
    print(f"Default 64 px run (1 epoch, {out['steps']} steps): peak RSS {out['peak_rss_mb']:.0f} MB")
    print("Determinism (two processes, same seed): "
          + ("identical samples" if out["determinism_same_seed_same_samples"] else "DIFFERENT samples"))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="sections to run (default: all)")
    parser.add_argument("--sizes", nargs="*", type=int, default=[32, 64, 128], choices=sorted(STEPS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps-scale", type=float, default=1.0, help="scale the steps per call")
    parser.add_argument("--thread-child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.thread_child:
        intra, inter, spe, repeats = args.thread_child
        print("CHILD " + json.dumps(_thread_child(intra, inter, spe, STEPS[64], repeats)))
        return {}

    tf = _tf()
    import keras

    from medgan_helpers import config, recipe

    default_spe = recipe.gan_config().steps_per_execution
    result = {"machine": f"{os.cpu_count()}-core CPU ({platform.machine()}, {platform.processor() or 'cpu'})",
              "gpu": [d.name for d in tf.config.list_physical_devices("GPU")] or "none (not measured on a GPU)",
              "tensorflow": tf.__version__, "keras": keras.__version__,
              "recipe_steps_per_execution": default_spe, "date": time.strftime("%Y-%m-%d %H:%M")}
    print(f"{result['machine']}, GPU: {result['gpu']}, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    chosen = args.only or SECTIONS
    if "speed" in chosen:
        result["speed"] = []
        for size in args.sizes:
            steps = max(max(SPE_SWEEP), int(STEPS[size] * args.steps_scale) // max(SPE_SWEEP) * max(SPE_SWEEP))
            t = measure_speed(size, args.repeats, steps, default_spe)
            result["speed"].append(t)
            print_speed(t)
    best = max(default_spe, 16)
    if "threads" in chosen:
        print(f"\nThread settings, full recipe at 64 px, spe={best}, each in a fresh process:")
        result["threads"] = measure_threads(best, max(1, args.repeats - 1))
    if "pipeline" in chosen:
        print(f"\nInput pipeline at 64 px (batch {BATCH}; training at spe={best}):")
        result["pipeline"] = measure_pipeline(best, max(1, args.repeats - 1))
    if "recipe" in chosen:
        print("\nNotebook 04's call (training.train, lab preset, 2 epochs, every callback):")
        result["recipe"] = measure_recipe(sorted({1, best}), max(1, args.repeats - 1))
    if "rss" in chosen:
        print()
        result["rss"] = measure_rss()

    out = config.artifacts_dir() / "benchmarks" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out.name} in the artifacts folder's benchmarks/")
    return result


if __name__ == "__main__":
    main()
