"""Single-sample latency of the interactive sampler on this machine (CPU by default).

Measures what a student feels when moving a slider: ``SamplerWidget.render()`` for
one sample (latent -> generator -> PNG bytes -> widget, plus the nearest-real search
when a dataset is attached), and the widget-free ``LatentExplorer.image()`` beside it, after warm-up, for the kit's default 64 px
conditional generator (``models.build_generator(64, 1, 128, num_classes=4)``).
The weights are random: latency does not depend on training.

    .venv/bin/python benchmarks/sampler_latency.py [--repeats 50] [--size 64]
                                                   [--json out.json] [--pretrained]

``--pretrained`` measures the model notebook 06 uses
(``training.load_latest_or_pretrained()``) instead of a freshly built generator.
Prints a table (warm-up, median, p95 in ms) and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def measure(sampler, repeats: int, change) -> dict:
    """Time ``repeats`` renders, each after ``change(i)`` set a control without rendering."""
    times = []
    for i in range(repeats):
        with sampler.hold():
            change(i)
        # hold() renders once on exit; time a fresh render of the same state explicitly
        start = time.perf_counter()
        sampler.render()
        times.append((time.perf_counter() - start) * 1000)
    return _stats(times)


def measure_headless(explorer, repeats: int) -> dict:
    """Time ``explorer.image()`` alone (no PNG, no widget) for ``repeats`` seeds."""
    times = []
    for i in range(repeats):
        explorer.set(seed=i + 1)
        start = time.perf_counter()
        explorer.image()
        times.append((time.perf_counter() - start) * 1000)
    return _stats(times)


def _stats(times: list[float]) -> dict:
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
            "min_ms": float(np.min(times)), "repeats": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import tensorflow as tf

    from medgan_helpers import models, widgets

    if args.pretrained:
        from medgan_helpers import training

        model, source = training.load_latest_or_pretrained(image_size=args.size)
        what = f"load_latest_or_pretrained(): {source}"
    else:
        model = models.build_generator(args.size, 1, 128, num_classes=4)
        what = f"models.build_generator({args.size}, 1, 128, num_classes=4), random weights"
    size = int(getattr(model, "image_size", args.size))
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (2000, size, size, 1)).astype(np.float32)

    start = time.perf_counter()
    sampler = widgets.SamplerWidget(model, dataset=real)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    sampler.render()
    warm_ms = (time.perf_counter() - start) * 1000

    bare = widgets.SamplerWidget(model, n_directions=3)  # no nearest-real panel
    rows = {
        "seed slider (no dataset)": measure(bare, args.repeats, lambda i: bare.seed_slider.__setattr__("value", i + 1)),
        "seed slider + nearest of 2000 real": measure(sampler, args.repeats, lambda i: sampler.seed_slider.__setattr__("value", i + 1)),
        "direction slider (no dataset)": measure(
            bare, args.repeats, lambda i: bare.direction_sliders[0].__setattr__("value", round(-3 + 6 * i / max(args.repeats - 1, 1), 1))
        ),
        "explorer.image() alone (no widget)": measure_headless(bare.explorer, args.repeats),
    }
    strip_times = []
    for i in range(10):
        bare.strip_seed_slider.value = i + 2
        start = time.perf_counter()
        bare.render_strip()
        strip_times.append((time.perf_counter() - start) * 1000)

    print(f"model: {what}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} · {os.cpu_count()} CPU cores · "
          f"TF {tf.__version__} · devices {[d.device_type for d in tf.config.list_physical_devices()]}")
    print(f"SamplerWidget construction (incl. PCA directions from {128} samples): {build_s:.2f} s")
    print(f"first render after construction (warm-up): {warm_ms:.1f} ms")
    print()
    print(f"| {f'what ({size} px)':<40} | median ms | p95 ms | min ms |")
    print("|------------------------------------------|-----------|--------|--------|")
    for name, r in rows.items():
        print(f"| {name:<40} | {r['median_ms']:9.1f} | {r['p95_ms']:6.1f} | {r['min_ms']:6.1f} |")
    print(f"| {'interpolation strip (7 samples)':<40} | {np.median(strip_times):9.1f} | "
          f"{np.percentile(strip_times, 95):6.1f} | {np.min(strip_times):6.1f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"model": what, "build_s": build_s, "warmup_ms": warm_ms, "rows": rows,
                       "strip_median_ms": float(np.median(strip_times))}, fh, indent=2)


if __name__ == "__main__":
    main()
