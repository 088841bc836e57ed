"""Why does D stop learning? One change at a time, measured (brain-mri 64 px).

Every row trains the same number of generator steps and is scored the same way
(``benchmarks/scoring.py``): FD and coverage against the real train split, the
worst per-class MS-SSIM gap to real images (> 0 = less varied than real: mode
collapse within a class), possible copies, and how the duel ended — D's hinge
loss over the last epoch (2.0 = D outputs ~0 for everything: at chance) and
r_t = E[sign D(augmented real)] (0 = D cannot tell real from fake either).

Two groups of rows:

- ``old + X``: the recipe the kit shipped until 2026-11 (``OLD``) with one change;
- ``new - X``: the new recipe (``recipe.GAN_DEFAULTS``) with one of its choices undone.

    python benchmarks/ablation.py                      # every row, 1 seed, 1500 steps (~2 h on 2 CPU cores)
    python benchmarks/ablation.py --rows old "old + nearest upsampling"
    python benchmarks/ablation.py --show artifacts/benchmarks/ablation.json

Prints a table and writes ``artifacts/benchmarks/ablation.json``; RESULTS.md
quotes it. Results that did not help stay in the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from scoring import Bench, machine, now

from medgan_helpers import config, recipe
from medgan_helpers.fileio import write_json

#: The recipe the kit shipped until 2026-11: D at chance, two classes collapsed.
OLD = {
    "batch_size": 32, "latent_dim": 64, "g_base_filters": 16, "d_base_filters": 16, "max_filters": 128,
    "upsampling": "transpose", "conditioning": "embedding", "spectral_norm": True, "minibatch_std": False,
    "loss": "hinge", "gp_weight": 0.0, "r1_weight": 0.0, "augment": "diffaugment", "ada_target": None,
    "ema_decay": 0.999, "d_steps": 1, "g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999,
}

#: name -> changes to OLD
OLD_PLUS = {
    "old": {},
    "old + D lr x2 (TTUR)": {"d_lr": 4e-4},
    "old + D lr x2, G lr /2": {"d_lr": 4e-4, "g_lr": 1e-4},
    "old + wider D (32/256)": {"d_base_filters": 32, "max_filters": 256},
    "old + wider G and D (32/256)": {"g_base_filters": 32, "d_base_filters": 32, "max_filters": 256},
    "old + R1 instead of SN": {"spectral_norm": False, "r1_weight": 0.5, "r1_every": 4},
    "old + no augmentation": {"augment": None},
    "old + gentle augmentation (2 px shift)": {"augment": "medical"},
    "old + ADA (target 0.6)": {"ada_target": 0.6},
    "old + nearest upsampling": {"upsampling": "nearest"},
    "old + minibatch std": {"minibatch_std": True},
    "old + class-conditional BN": {"conditioning": "cbn"},
    "old + Adam betas (0.0, 0.99)": {"beta_1": 0.0, "beta_2": 0.99},
    "old + batch 64": {"batch_size": 64},
    "old + EMA 0.99": {"ema_decay": 0.99},
    "old + no EMA": {"ema_decay": None},
}


#: knobs undone together in the "new - X" rows
GROUPS = {"beta_1": "Adam betas", "beta_2": "Adam betas"}


def new_minus() -> dict[str, dict]:
    """The new recipe, and the new recipe with each of its departures from OLD undone."""
    rows: dict[str, dict] = {"new recipe": {}}
    for key, value in recipe.GAN_DEFAULTS.items():
        if key in OLD and OLD[key] != value:
            name = f"new - {GROUPS[key]}" if key in GROUPS else f"new - {key}={value}"
            rows.setdefault(name, {})[key] = OLD[key]
    return rows


def rows_to_run() -> dict[str, dict]:
    """Every row's full knob overrides (relative to recipe.GAN_DEFAULTS)."""
    rows = {name: {**OLD, **change} for name, change in OLD_PLUS.items()}
    rows.update(new_minus())
    return rows


def format_table(rows: list[dict], refs: dict, steps: int) -> str:
    head = (f"{'row':<44}{'FD ↓':>8}{'coverage':>10}{'MS-SSIM gap ↓':>15}{'copies %':>10}"
            f"{'D loss':>8}{'r_t':>7}{'train s':>9}")
    lines = [f"brain-mri 64 px · {steps} generator steps · seed 0 · 1,000 samples, kit feature space", head]
    for r in rows:
        lines.append(f"{r['name']:<44}{r['fd']:>8.2f}{r['coverage']:>10.3f}{r['worst_ms_ssim_gap']:>15.3f}"
                     f"{r['copies']:>10.1f}{r['d_loss']:>8.2f}{r['real_sign']:>7.2f}{r['train_seconds']:>9.0f}")
    lines.append(f"ref: noise floor FD {refs['floor_fd']:.2f}, coverage {refs['floor_coverage']:.3f}; "
                 f"real test vs train FD {refs['test_vs_train_fd']:.2f}, coverage {refs['test_vs_train_coverage']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    every = rows_to_run()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", nargs="+", default=list(every), help="row names (default: all)")
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/ablation.json)")
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="merge the rows of several partial runs (e.g. two processes, one per core) into --out")
    parser.add_argument("--show", default=None, metavar="JSON", help="only print the table of a saved result")
    args = parser.parse_args(argv)
    if args.combine:
        parts = [json.loads(Path(p).read_text()) for p in args.combine]
        saved = {**parts[0], "rows": [r for part in parts for r in part["rows"]],
                 "references": next(p["references"] for p in parts if p.get("references")),
                 "seconds": sum(p.get("seconds", 0) for p in parts)}
        saved["rows"].sort(key=lambda r: list(every).index(r["name"]) if r["name"] in every else len(every))
        saved["table"] = format_table(saved["rows"], saved["references"], saved["steps"])
        out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "ablation.json"
        write_json(out, saved)
        print(saved["table"])
        return 0
    if args.show:
        saved = json.loads(Path(args.show).read_text())
        print(format_table(saved["rows"], saved["references"], saved["steps"]))
        return 0
    unknown = [r for r in args.rows if r not in every]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {list(every)}")
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "ablation.json"
    saved = json.loads(out.read_text()) if out.is_file() else {}  # resume a long run
    done = saved.get("rows", [])
    t0 = time.time()
    bench = Bench(config.artifacts_dir() / "benchmarks" / "ablation-runs", tstr=False)
    bench.references = saved.get("references")
    rows = [r for r in done if r["name"] in args.rows and r["steps"] == args.steps]
    for name in args.rows:
        if any(r["name"] == name for r in rows):
            continue
        row = bench.run(name.replace(" ", "_").replace("/", "-"), every[name], args.seed, args.steps)
        row["name"] = name
        rows.append(row)
        print(f"  {name}: FD {row['fd']:.2f}, coverage {row['coverage']:.3f}, MS-SSIM gap "
              f"{row['worst_ms_ssim_gap']:.3f}, D loss {row['d_loss']:.2f}, r_t {row['real_sign']:.2f} "
              f"({row['train_seconds']:.0f} s)", flush=True)
        write_json(out, {"benchmark": "ablation", "steps": args.steps, "seed": args.seed, "rows": rows,
                         "references": bench.references, "old": OLD, "recipe": dict(recipe.GAN_DEFAULTS),
                         "machine": machine(), "date": now()})
    rows.sort(key=lambda r: list(every).index(r["name"]))
    table = format_table(rows, bench.references, args.steps)
    print()
    print(table)
    write_json(out, {"benchmark": "ablation", "steps": args.steps, "seed": args.seed, "rows": rows,
                     "references": bench.references, "old": OLD, "recipe": dict(recipe.GAN_DEFAULTS), "table": table,
                     "machine": machine(), "date": now(), "seconds": round(time.time() - t0, 1)})
    print(f"\nwrote {out.name} under artifacts/benchmarks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
