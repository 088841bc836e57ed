"""Does the way D's LeakyReLU is written change training speed? (issue 14, the remapper log line)

TensorFlow's grappler *remapper* fuses ``Conv2D + BiasAdd + LeakyRelu`` into one
``_FusedConv2D`` on CPU. In a training graph that fusion is wrong: the gradient
op ``LeakyReluGrad`` reads LeakyRelu's *input* (the BiasAdd output), which the
fusion deletes, so the remapper aborts with::

    E0000 … meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation::Apply error:
    fanout '…/LeakyRelu/LeakyReluGrad' exist for missing node '…/BiasAdd'.

and grappler keeps the graph as it was before the remapper ran. ``Relu`` is not
affected (``ReluGrad`` reads the output), and neither is LeakyReLU written as
``(1 - slope) * relu(x) + slope * x`` — which is what ``models.LeakyReLUFromRelu`` does.

This script trains the kit's default GAN (64 px brain-mri, the recipe's G and D,
DiffAugment, EMA) for a fixed number of steps with three ways of writing D's
activation, each variant in a fresh process (the remapper switch is process-wide),
interleaved over ``--repeats`` rounds:

- ``keras``   — ``keras.layers.LeakyReLU`` (before the fix: the remapper fails);
- ``kit`` — ``models.LeakyReLUFromRelu`` (the fix: the remapper runs);
- ``no-remapper`` — ``keras.layers.LeakyReLU`` with the remapper switched off for
  the whole process (``tf.config.optimizer.set_experimental_options``), for reference.

It prints the median step time (wall clock and process CPU time; on a shared
machine the CPU time is the steadier number), the ratios against ``keras``, and
whether the remapper line appeared on each variant's stderr. Results go to
``artifacts/benchmarks/leaky_relu_remapper.json``.

Usage::

    python benchmarks/leaky_relu_remapper.py --steps 60 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("keras", "kit", "no-remapper")
REMAPPER_LINE = "remapper failed"


def one_run(variant: str, steps: int, batch_size: int) -> dict:
    """Train ``steps`` steps (after a warm-up) in this process; return the timings."""
    import keras
    import tensorflow as tf

    from medgan_helpers import data, gan, models, recipe

    if variant == "no-remapper":
        tf.config.optimizer.set_experimental_options({"remapping": False})
    if variant in ("keras", "no-remapper"):  # the composition before the fix
        models.LeakyReLUFromRelu = lambda slope, name: keras.layers.LeakyReLU(slope, name=name)
    cfg = recipe.knobs()
    images = data.load_dataset("brain-mri", image_size=64, split="train")
    classes = len(images.class_names)
    G = models.build_generator(64, 1, cfg["latent_dim"], classes, base_filters=cfg["g_base_filters"],
                               max_filters=cfg["max_filters"])
    D = models.build_discriminator(64, 1, classes, base_filters=cfg["d_base_filters"],
                                   max_filters=cfg["max_filters"])
    model = gan.GAN(G, D, cfg["latent_dim"], classes, seed=0)
    model.compile(*recipe.optimizers(cfg))
    stream = data.to_tf_dataset(images, batch_size=batch_size, seed=0).repeat()
    model.fit(stream, epochs=1, steps_per_epoch=5, verbose=0)  # trace and warm up
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"variant": variant, "wall_ms_per_step": 1000 * wall / steps, "cpu_ms_per_step": 1000 * cpu / steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_run(args.child, args.steps, args.batch_size)))
        return 0

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "PYTHONPATH": str(ROOT)}
    rows: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    logged: dict[str, bool] = {v: False for v in VARIANTS}
    for repeat in range(args.repeats):
        order = VARIANTS if repeat % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            done = subprocess.run(
                [sys.executable, __file__, "--child", variant, "--steps", str(args.steps),
                 "--batch-size", str(args.batch_size)],
                capture_output=True, text=True, env=env, cwd=ROOT, check=True)
            rows[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
            logged[variant] |= REMAPPER_LINE in done.stderr
            print(f"round {repeat + 1}: {variant:<12} {rows[variant][-1]['wall_ms_per_step']:7.1f} ms/step wall "
                  f"{rows[variant][-1]['cpu_ms_per_step']:7.1f} ms/step CPU", flush=True)

    summary = {}
    for variant in VARIANTS:
        summary[variant] = {key: statistics.median(r[key] for r in rows[variant])
                            for key in ("wall_ms_per_step", "cpu_ms_per_step")}
    print(f"\n{args.steps} steps, batch {args.batch_size}, {args.repeats} interleaved rounds, 64 px default recipe")
    print(f"{'variant':<14}{'wall ms/step':>14}{'CPU ms/step':>14}{'wall ratio':>12}{'CPU ratio':>12}  remapper line")
    base = summary["keras"]
    for variant in VARIANTS:
        s = summary[variant]
        print(f"{variant:<14}{s['wall_ms_per_step']:>14.1f}{s['cpu_ms_per_step']:>14.1f}"
              f"{base['wall_ms_per_step'] / s['wall_ms_per_step']:>12.3f}"
              f"{base['cpu_ms_per_step'] / s['cpu_ms_per_step']:>12.3f}  {'yes' if logged[variant] else 'no'}")
    print("(ratio = speed relative to keras.layers.LeakyReLU; > 1 is faster)")
    out = ROOT / "artifacts" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaky_relu_remapper.json").write_text(json.dumps(
        {"steps": args.steps, "batch_size": args.batch_size, "rows": rows, "summary": summary,
         "remapper_line": logged}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
