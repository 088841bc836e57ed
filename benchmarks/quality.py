"""Quality benchmark: the kit's default GAN recipe vs a plain DCGAN baseline.

On brain-mri at 64 px, both recipes use the same generator / discriminator
capacity and the same number of training steps; the baseline drops what the kit
adds for small medical datasets (BCE loss instead of hinge, no DiffAugment, no
EMA generator, no spectral normalisation). Each (recipe, seed) is trained for
real, then scored with ``medgan_helpers.evaluation`` against the real train split:
FD, KID, precision, recall, coverage, the possible-copies fraction and TSTR
accuracy (with TRTR, the same classifier trained on real images, as reference).

    python benchmarks/quality.py                   # default: 3 seeds, ~25 min on 2 CPU cores
    python benchmarks/quality.py --steps 300 --seeds 0   # a quick look

Prints a table and writes ``artifacts/benchmarks/quality.json``. Runs go to
``artifacts/benchmarks/quality-runs/`` (not ``artifacts/runs/``, so notebooks
never pick a benchmark model up as "your newest run").
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from medgan_helpers import config, data, evaluation, training

RECIPES = {
    "kit default (hinge, DiffAugment, EMA, SN)": {},
    "plain DCGAN (BCE, no aug/EMA/SN)": {
        "loss": "bce",
        "augment": None,
        "ema_decay": None,
        "spectral_norm": False,
    },
}
METRICS = (
    ("fd", "FD ↓"),
    ("kid", "KID×1000 ↓"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("coverage", "coverage"),
    ("copies", "copies %"),
    ("tstr", "TSTR acc"),
)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation of a list of numbers."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())


def run_one(recipe: str, knobs: dict, seed: int, epochs: int, real_train, real_test, extractor,
            n_samples: int, utility_epochs: int, out_root: Path, references: bool) -> dict:
    """Train one (recipe, seed) and score it; returns the benchmark numbers."""
    run_dir = out_root / f"{'kit' if not knobs else 'dcgan'}-seed{seed}"
    t0 = time.time()
    gan = training.train(real_train, run_dir=run_dir, resume=False, verbose=0, display=False,
                         epochs=epochs, seed=seed, **knobs)
    train_s = time.time() - t0
    labels = evaluation.balanced_labels(n_samples, gan.num_classes) if gan.num_classes else None
    fake = gan.generate(n_samples, labels=labels, seed=1000 + seed)
    t1 = time.time()
    report = evaluation.evaluate(
        real_train, real_test, fake, labels, extractor=extractor, seed=seed,
        utility_seeds=(seed,), utility_epochs=utility_epochs, utility_settings=("tstr",),
        references=references, verbose=False,
    )
    report.save(run_dir)
    f = report.fidelity["fake_vs_train"]
    util = report.utility or {}
    row = {
        "recipe": recipe,
        "seed": seed,
        "fd": f["fd"],
        "kid": f["kid"] * 1000,
        "precision": f["precision"],
        "recall": f["recall"],
        "coverage": f["coverage"],
        "copies": 100 * report.memorisation["pixel"]["possible_copies_fraction"],
        "copies_feature": 100 * report.memorisation["feature"]["possible_copies_fraction"],
        "tstr": util.get("tstr", {}).get("accuracy", math.nan),
        "ms_ssim_fake": report.diversity["fake_mean"],
        "fd_test": report.fidelity["fake_vs_test"]["fd"],
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.time() - t1, 1),
    }
    if references:
        row["references"] = {
            "floor_fd": report.fidelity["floor_train_halves"]["fd"],
            "test_vs_train_fd": report.fidelity["test_vs_train"]["fd"],
            "floor_kid": report.fidelity["floor_train_halves"]["kid"] * 1000,
            "test_vs_train_kid": report.fidelity["test_vs_train"]["kid"] * 1000,
            "test_vs_train_recall": report.fidelity["test_vs_train"]["recall"],
            "test_vs_train_coverage": report.fidelity["test_vs_train"]["coverage"],
            "real_ms_ssim": report.diversity["real_mean"],
        }
    return row


def format_table(rows: list[dict], trtr: dict, refs: dict, steps: int, seeds: list[int]) -> str:
    """The benchmark table: one line per recipe, mean ± std over seeds, plus references."""
    w = 18
    head = f"{'recipe':<42}" + "".join(f"{label:>{w}}" for _, label in METRICS)
    lines = [f"brain-mri 64 px · {steps} training steps per run · seeds {seeds} · mean ± std over seeds", head]
    for recipe in RECIPES:
        mine = [r for r in rows if r["recipe"] == recipe]
        if not mine:
            continue
        cells = []
        for key, _ in METRICS:
            m, s = mean_std([r[key] for r in mine])
            digits = 1 if key in ("fd", "kid", "copies") else 3
            cells.append(f"{m:.{digits}f} ± {s:.{digits}f}")
        lines.append(f"{recipe:<42}" + "".join(f"{c:>{w}}" for c in cells))
    lines.append(
        f"{'ref: train half vs half (noise floor)':<42}{refs['floor_fd']:>{w}.1f}{refs['floor_kid']:>{w}.1f}"
    )
    lines.append(
        f"{'ref: real test vs real train':<42}{refs['test_vs_train_fd']:>{w}.1f}{refs['test_vs_train_kid']:>{w}.1f}"
        f"{'':>{w}}{refs['test_vs_train_recall']:>{w}.3f}{refs['test_vs_train_coverage']:>{w}.3f}"
    )
    lines.append(
        f"{'ref: TRTR (classifier trained on real)':<42}" + f"{'':>{w}}" * 6
        + f"{trtr['accuracy']:.3f} ± {trtr['accuracy_std']:.3f}".rjust(w)
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600,
                        help="generator updates per run (rounded to whole epochs of 75 steps; default 600)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-samples", type=int, default=1000, help="generated images scored per run")
    parser.add_argument("--utility-epochs", type=int, default=8)
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/quality.json)")
    parser.add_argument("--show", default=None, metavar="JSON",
                        help="only print the table of a saved result (no training)")
    args = parser.parse_args(argv)
    if args.show:
        saved = json.loads(Path(args.show).read_text())
        print(format_table(saved["rows"], saved["trtr"], saved["references"], saved["steps"], saved["seeds"]))
        return 0

    real_train = data.load_dataset("brain-mri", image_size=64, split="train")
    real_test = data.load_dataset("brain-mri", image_size=64, split="test")
    batch = training.default_config(quick=False)["batch_size"]
    steps_per_epoch = len(real_train) // batch
    epochs = max(1, round(args.steps / steps_per_epoch))
    steps = epochs * steps_per_epoch
    out_root = config.artifacts_dir() / "benchmarks" / "quality-runs"
    print(f"{len(RECIPES)} recipes × {len(args.seeds)} seeds, {epochs} epochs × {steps_per_epoch} "
          f"steps = {steps} steps each", flush=True)

    t0 = time.time()
    extractor = evaluation.feature_extractor(real_train, epochs=12, verbose=True)
    trtr = evaluation.utility_scores(
        real_train.images, real_train.labels, real_train.images, real_train.labels,
        real_test.images, real_test.labels, num_classes=len(real_train.class_names),
        seeds=tuple(args.seeds), epochs=args.utility_epochs, settings=("trtr",),
    )["trtr"]
    print(f"feature extractor + TRTR reference: {time.time() - t0:.0f} s", flush=True)

    rows = []
    for seed in args.seeds:
        for recipe, knobs in RECIPES.items():
            row = run_one(recipe, knobs, seed, epochs, real_train, real_test, extractor,
                          args.n_samples, args.utility_epochs, out_root, references=not rows)
            rows.append(row)
            print(f"  {recipe} seed {seed}: FD {row['fd']:.1f}, coverage {row['coverage']:.3f}, "
                  f"TSTR {row['tstr']:.3f} (train {row['train_seconds']:.0f} s, eval {row['eval_seconds']:.0f} s)",
                  flush=True)

    refs = rows[0]["references"]
    table = format_table(rows, trtr, refs, steps, args.seeds)
    print()
    print(table)
    result = {
        "benchmark": "quality",
        "dataset": "brain-mri",
        "image_size": 64,
        "steps": steps,
        "epochs": epochs,
        "seeds": args.seeds,
        "n_samples": args.n_samples,
        "utility_epochs": args.utility_epochs,
        "recipes": RECIPES,
        "rows": rows,
        "trtr": trtr,
        "references": refs,
        "table": table,
        "seconds": round(time.time() - t0, 1),
        "machine": f"{platform.processor() or platform.machine()} · {platform.system()} · python {sys.version.split()[0]}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": "feature space = the kit's classifier, not InceptionV3: not comparable with published FIDs",
    }
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out} ({result['seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
