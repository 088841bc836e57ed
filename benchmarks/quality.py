"""Quality benchmark: the kit's recipe vs a plain DCGAN baseline, 3 seeds, at several lengths.

On brain-mri at 64 px, both recipes use the same generator / discriminator
capacity and the same number of generator steps; the baseline drops what the
kit adds (BCE loss instead of hinge, no augmentation, no EMA generator, no
spectral normalisation, transposed convolutions, no minibatch-stddev, no R1,
equal learning rates). Each (recipe, seed) is trained for real
(``benchmarks/scoring.py``), then scored against the real train split: FD,
coverage, precision, recall, the worst per-class MS-SSIM gap to real images,
possible copies (pixel space, train leave-one-out threshold) and TSTR accuracy
(TRTR, the same classifier trained on real images, is the reference).

    python benchmarks/quality.py                            # 600, 1500 and 4500 steps, 3 seeds
    python benchmarks/quality.py --steps 600 --seeds 0      # a quick look
    python benchmarks/quality.py --show artifacts/benchmarks/quality.json

Prints a table and writes ``artifacts/benchmarks/quality.json``. Runs go to
``artifacts/benchmarks/quality-runs/`` (not ``artifacts/runs/``, so notebooks
never pick a benchmark model up as "your newest run").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from scoring import Bench, machine, mean_std, now

from medgan_helpers import config
from medgan_helpers.fileio import write_json

RECIPES = {
    "kit recipe": {},
    "plain DCGAN": {
        "loss": "bce", "augment": None, "ada_target": None, "ema_decay": None, "spectral_norm": False,
        "upsampling": "transpose", "conditioning": "embedding", "minibatch_std": False,
        "r1_weight": 0.0, "d_lr": 2e-4, "g_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999,
    },
}
METRICS = (
    ("fd", "FD ↓", 2),
    ("coverage", "coverage", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("worst_ms_ssim_gap", "MS-SSIM gap ↓", 3),
    ("copies", "copies %", 1),
    ("tstr", "TSTR acc", 3),
)


def format_table(rows: list[dict], trtr: dict, refs: dict, seeds: list[int]) -> str:
    """One line per (recipe, steps), mean ± std over seeds, then the references."""
    w = 16
    head = f"{'recipe':<16}{'steps':>7}" + "".join(f"{label:>{w}}" for _, label, _ in METRICS)
    lines = [f"brain-mri 64 px · seeds {seeds} · mean ± std over seeds · 1,000 samples, kit feature space",
             head]
    for steps in sorted({r["steps"] for r in rows}):
        for recipe in RECIPES:
            mine = [r for r in rows if r["name"] == recipe and r["steps"] == steps]
            if not mine:
                continue
            cells = []
            for key, _, digits in METRICS:
                m, sd = mean_std([r[key] for r in mine])
                cells.append(f"{m:.{digits}f} ± {sd:.{digits}f}")
            lines.append(f"{recipe:<16}{steps:>7}" + "".join(f"{c:>{w}}" for c in cells))
    lines.append(f"{'ref: noise floor (train half vs half)':<39}FD {refs['floor_fd']:.2f}, "
                 f"coverage {refs['floor_coverage']:.3f}")
    lines.append(f"{'ref: real test vs real train':<39}FD {refs['test_vs_train_fd']:.2f}, "
                 f"coverage {refs['test_vs_train_coverage']:.3f}")
    lines.append(f"{'ref: TRTR (classifier trained on real)':<39}{trtr['accuracy']:.3f} ± {trtr['accuracy_std']:.3f}")
    return "\n".join(lines)


def pooled(parts: list[tuple[int, dict]]) -> dict:
    """Merge ``(n_seeds, {"x": mean, "x_std": population std, ...})`` of disjoint seed sets into one."""
    total = sum(n for n, _ in parts)
    out = dict(parts[0][1])
    for key in [k for k in out if f"{k}_std" in out]:
        mean = sum(n * d[key] for n, d in parts) / total
        var = sum(n * (d[f"{key}_std"] ** 2 + (d[key] - mean) ** 2) for n, d in parts) / total
        out[key], out[f"{key}_std"] = mean, var ** 0.5
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[600, 1500, 4500],
                        help="generator updates per run (whole epochs of 75 steps)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--n-samples", type=int, default=1000, help="generated images scored per run")
    parser.add_argument("--utility-epochs", type=int, default=8)
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/quality.json)")
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="merge the rows of several partial runs (e.g. two processes, one per core) into --out")
    parser.add_argument("--show", default=None, metavar="JSON", help="only print the table of a saved result")
    args = parser.parse_args(argv)
    if args.combine:
        parts = [json.loads(Path(p).read_text()) for p in args.combine]
        saved = {**parts[0], "rows": [r for part in parts for r in part["rows"]],
                 "references": next(p["references"] for p in parts if p.get("references")),
                 "seeds": sorted({s for p in parts for s in p["seeds"]}),
                 "trtr": pooled([(len(p["seeds"]), p["trtr"]) for p in parts]),
                 "seconds": sum(p.get("seconds", 0) for p in parts)}
        saved["table"] = format_table(saved["rows"], saved["trtr"], saved["references"], saved["seeds"])
        out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "quality.json"
        write_json(out, saved)
        print(saved["table"])
        return 0
    if args.show:
        saved = json.loads(Path(args.show).read_text())
        print(format_table(saved["rows"], saved["trtr"], saved["references"], saved["seeds"]))
        return 0

    t0 = time.time()
    bench = Bench(config.artifacts_dir() / "benchmarks" / "quality-runs", args.n_samples, args.utility_epochs)
    trtr = bench.trtr(tuple(args.seeds))
    print(f"feature extractor + TRTR reference: {time.time() - t0:.0f} s", flush=True)
    rows = []
    for seed in args.seeds:
        for recipe in args.recipes:
            # one run per (recipe, seed), scored at every length in --steps (see Bench.run_checkpoints)
            for row in bench.run_checkpoints(recipe, RECIPES[recipe], seed, args.steps):
                rows.append(row)
                print(f"  {recipe} · {row['steps']} steps · seed {seed}: FD {row['fd']:.2f}, coverage "
                      f"{row['coverage']:.3f}, MS-SSIM gap {row['worst_ms_ssim_gap']:.3f}, TSTR {row['tstr']:.3f} "
                      f"(train {row['train_seconds']:.0f} s, eval {row['eval_seconds']:.0f} s)", flush=True)
    table = format_table(rows, trtr, bench.references, args.seeds)
    print()
    print(table)
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "quality.json"
    write_json(out, {"benchmark": "quality", "dataset": "brain-mri", "image_size": 64, "seeds": args.seeds,
                     "n_samples": args.n_samples, "utility_epochs": args.utility_epochs, "recipes": RECIPES,
                     "rows": rows, "trtr": trtr, "references": bench.references, "table": table,
                     "seconds": round(time.time() - t0, 1), "machine": machine(), "date": now(),
                     "note": "feature space = the kit's classifier, not InceptionV3: not comparable with published FIDs"})
    print(f"\nwrote {out.name} under artifacts/benchmarks ({time.time() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
