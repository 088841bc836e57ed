"""What makes the generator's images pass the realism ruler? One change at a time (issue 17).

brain-mri 64 px. Every row is the kit's recipe (``recipe.GAN_DEFAULTS``) with one
change against speckle, streaks or flat contrast, trained for real for the same
number of generator steps and scored with ``benchmarks/scoring.py``: first the
realism ruler (a fresh CNN's held-out accuracy at telling the images from real
ones, 3 classifier seeds, floor about 0.5; the high-frequency energy ratio,
1.0 = real; the intensity quantile distance inside the brain, as a multiple of
its real-halves floor), then FD, coverage and the worst per-class MS-SSIM gap.
A plain DCGAN (``benchmarks/quality.py``) is scored the same way.

    python benchmarks/realism_ablation.py                          # every row, 1 seed, scored at 750 and 1500 steps
    python benchmarks/realism_ablation.py --rows recipe "G width 32" --steps 750
    python benchmarks/realism_ablation.py --show artifacts/benchmarks/realism_ablation.json

Prints a table and writes ``artifacts/benchmarks/realism_ablation.json`` (a
rerun resumes it: rows already scored are kept); RESULTS.md quotes it.
Rows that did not help stay in the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from quality import RECIPES
from scoring import Bench, machine, mean_std, now

from medgan_helpers import config, recipe
from medgan_helpers.fileio import write_json

#: name -> changes to the recipe
ROWS: dict[str, dict] = {
    "recipe": {},
    "plain DCGAN": dict(RECIPES["plain DCGAN"]),
    "G width 32": {"g_base_filters": 32},
    "G width 32, D width 32": {"g_base_filters": 32, "d_base_filters": 32},
    "D width 32": {"d_base_filters": 32},
    "D sees a high-pass channel": {"d_highpass": True},
    "bilinear upsampling": {"upsampling": "bilinear"},
    "blurred upsampling": {"upsampling": "blur"},
    "pixel norm in G (no BN)": {"g_norm": "pixel"},
    "two convs per G block": {"g_block_convs": 2},
    "two convs per G block, G width 32": {"g_block_convs": 2, "g_base_filters": 32},
    "two convs per G block, pixel norm": {"g_block_convs": 2, "g_norm": "pixel"},
    "G width 32, pixel norm": {"g_base_filters": 32, "g_norm": "pixel"},
    "R1 instead of spectral norm": {"spectral_norm": False, "r1_weight": 1.0},
    "spectral norm + R1": {"r1_weight": 1.0},
    "EMA 0.99": {"ema_decay": 0.99},
    "EMA 0.9999": {"ema_decay": 0.9999},
    "no EMA": {"ema_decay": None},
    "BCE loss": {"loss": "bce"},
    "learning rates / 2": {"g_lr": 1e-4, "d_lr": 1e-4},
    # the failure gallery's lead: G lr x10 looks most real at 900 steps and collapses; x3 is between
    "G lr x3": {"g_lr": 6e-4},
    "G lr x3, D lr x3": {"g_lr": 6e-4, "d_lr": 6e-4},
}

COLUMNS = (  # key, header, width, format
    ("two_sample_acc", "CNN acc ↓", 10, ".3f"),
    ("hf_ratio", "HF ratio", 9, ".2f"),
    ("qd_x_floor", "intensity ×floor", 17, ".1f"),
    ("fd", "FD ↓", 7, ".2f"),
    ("coverage", "coverage", 9, ".3f"),
    ("worst_ms_ssim_gap", "MS-SSIM gap", 12, ".3f"),
    ("train_seconds", "train s", 8, ".0f"),
)


def format_table(rows: list[dict]) -> str:
    """One line per (row, steps): the seed's value, or mean ± std over the seeds run; floors and targets underneath."""
    lines = ["brain-mri 64 px · 1,000 samples · CNN acc: mean of 3 classifier seeds · "
             "several seeds: mean ± std over training seeds",
             f"{'row':<42}{'steps':>6}{'seeds':>6}" + "".join(f"{h:>{w}}" for _, h, w, _ in COLUMNS)]
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["name"], r["steps"]), []).append({**r, "qd_x_floor": r["intensity_qd"] / r["intensity_qd_floor"]})
    order = sorted(groups, key=lambda k: (k[1], list(ROWS).index(k[0]) if k[0] in ROWS else 99))
    for name, steps in order:
        runs = groups[name, steps]
        cells = []
        for key, _, width, fmt in COLUMNS:
            mean, std = mean_std(r[key] for r in runs)
            cells.append(f"{mean:{fmt}}" if len(runs) == 1 or key == "train_seconds" else f"{mean:{fmt}}±{std:{fmt}}")
            cells[-1] = f"{cells[-1]:>{width + (6 if len(runs) > 1 and key != 'train_seconds' else 0)}}"
        lines.append(f"{name:<42}{steps:>6}{len(runs):>6}" + "".join(cells))
    if rows:
        r = rows[0]
        lines.append(f"floors (real vs real): CNN acc {r['two_sample_floor']:.3f}, HF ratio {r['hf_ratio_floor']:.2f}, "
                     "intensity 1.0 ×floor")
    lines.append("targets (issue 17, shipped model): CNN acc ≤ 0.70, HF ratio 0.8-1.25, intensity ≤ 3 ×floor")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[750, 1500],
                        help="generator updates; one run per row, scored at each (whole epochs of 75)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="row names (default: all)")
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/realism_ablation.json)")
    parser.add_argument("--show", default=None, metavar="JSON", help="only print the table of a saved result")
    args = parser.parse_args(argv)
    if args.show:
        print(format_table(json.loads(Path(args.show).read_text())["rows"]))
        return 0
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {list(ROWS)}")
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "realism_ablation.json"
    rows = json.loads(out.read_text())["rows"] if out.is_file() else []  # resume a long run
    bench = Bench(config.artifacts_dir() / "benchmarks" / "realism-ablation-runs", tstr=False)
    t0 = time.time()
    for name in args.rows:
        if all(any(r["name"] == name and r["steps"] == s and r["seed"] == args.seed for r in rows)
               for s in args.steps):
            continue
        rows = [r for r in rows if not (r["name"] == name and r["seed"] == args.seed and r["steps"] in args.steps)]
        for row in bench.run_checkpoints(name.replace(" ", "_").replace("/", "-"), ROWS[name], args.seed, args.steps):
            row["name"] = name
            rows.append(row)
            print(f"  {name} · {row['steps']} steps: CNN acc {row['two_sample_acc']:.3f}, HF {row['hf_ratio']:.2f}, "
                  f"intensity {row['intensity_qd'] / row['intensity_qd_floor']:.1f}x floor, FD {row['fd']:.2f} "
                  f"(train {row['train_seconds']:.0f} s, eval {row['eval_seconds']:.0f} s)", flush=True)
        write_json(out, {"benchmark": "realism_ablation", "rows": rows, "row_changes": ROWS,
                         "recipe": dict(recipe.GAN_DEFAULTS), "machine": machine(), "date": now(),
                         "table": format_table(rows)})
    print()
    print(format_table(rows))
    print(f"\nwrote {out.name} under artifacts/benchmarks ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
