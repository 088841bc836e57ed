"""GAN vs diffusion on brain-mri 64 px under the same CPU budget, 3 seeds (issue 18, notebook 10).

Each family trains with its kit recipe (the GAN: ``training.train``; the diffusion
model: ``diffusion_training.train``) until its training steps have used
``--budget-minutes`` of CPU time (``time.process_time`` of this process, every
thread, counted inside the training steps only, so the health file, sample grids and
the scoring of checkpoints cost nothing; the first step, which traces the step function,
a one-off of seconds, is not counted either). At each checkpoint (``--checkpoints``,
fractions of the budget) ``--n-samples`` images are drawn (the diffusion model by
DDIM with ``--eval-steps`` steps) and scored with ``benchmarks/scoring.py``'s
``Bench.score``, the ruler of quality.py: the two-sample classifier accuracy, FD,
coverage, precision, recall, the worst per-class MS-SSIM gap, possible copies (the
same calibrated threshold for both families), TSTR.

It prints one table of three parts: the measures per family and checkpoint (mean ±
std over seeds), the training CPU-minutes each family needed to reach each quality
level (``--levels`` of ``--level-metric``, first checkpoint that reached it), and the
sampling milliseconds per image (wall clock, this machine) of the diffusion model at
``--latency-steps`` DDIM steps against the GAN's one forward pass.

    python benchmarks/diffusion_vs_gan.py                               # 30 CPU-minutes a run, seeds 0 1 2
    python benchmarks/diffusion_vs_gan.py --budget-minutes 5 --seeds 0  # a quick look
    python benchmarks/diffusion_vs_gan.py --show artifacts/benchmarks/diffusion_vs_gan.json

Writes ``artifacts/benchmarks/diffusion_vs_gan.json``; runs go to
``artifacts/benchmarks/diffusion-vs-gan-runs/`` (never where notebooks look for runs).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import quality
from scoring import STEPS_PER_EPOCH, Bench, machine, mean_std, now

from medgan_helpers import config, diffusion_training, sampling, training
from medgan_helpers.fileio import write_json

FAMILIES = ("GAN", "diffusion")
#: the measures of the table: row key, column label, digits (two_sample_acc first: the issue's target)
METRICS = (("two_sample_acc", "2-sample acc ↓", 3), *quality.METRICS)
#: evaluate()'s options under --tiny-eval (EvalOptions fields): numbers only a smoke test can use
TINY_EVAL = {"kid_subsets": 2, "diversity_pairs": 20, "max_real": 64, "realism_seeds": (0,), "realism_epochs": 1,
             "realism_images": 48}
#: metrics a quality level can be set on: all lower-is-better
LEVEL_METRICS = ("two_sample_acc", "fd", "worst_ms_ssim_gap")


class CpuBudget(keras.callbacks.Callback):
    """Counts the CPU time of the training steps, draws samples at each checkpoint, stops at the budget.

    ``draw(model) -> (images, labels)`` runs outside the counted time. Each
    checkpoint keeps the images, the CPU seconds and generator/denoiser steps
    so far, and the step's logs.
    """

    def __init__(self, budget_seconds: float, fractions: list[float], draw):
        super().__init__()
        self.marks = sorted(budget_seconds * f for f in fractions)
        self.draw, self.spent, self.taken = draw, 0.0, []
        self._begin, self._traced = 0.0, False

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.process_time()

    def on_train_batch_end(self, batch, logs=None):
        if not self._traced:  # the first call traces (and compiles) the step: not training
            self._traced = True
            return
        self.spent += time.process_time() - self._begin
        while self.marks and self.spent >= self.marks[0]:
            self.marks.pop(0)
            fake, labels = self.draw(self.model)
            self.taken.append({"fake": fake, "labels": labels, "cpu_seconds": self.spent, "logs": dict(logs or {}),
                               "steps": int(self.model.g_optimizer.iterations.numpy())})
        if not self.marks:
            self.model.stop_training = True


def parse_knobs(pairs: list[str]) -> dict[str, Any]:
    """``["base_filters=16", "ema_decay=None"]`` -> ``{"base_filters": 16, "ema_decay": None}`` (JSON values)."""
    knobs = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"knob {pair!r}: write NAME=VALUE, e.g. base_filters=16.")
        try:
            knobs[name] = json.loads("null" if value == "None" else value)
        except json.JSONDecodeError:
            knobs[name] = value  # a word, e.g. loss=hinge
    return knobs


def train_family(bench: Bench, family: str, knobs: dict, seed: int, args) -> tuple[list[dict], Any]:
    """One run of ``family`` within the CPU budget, scored at every checkpoint; returns the rows and the model."""
    options = {"steps": args.eval_steps} if family == "diffusion" else {}
    budget = CpuBudget(args.budget_minutes * 60.0, args.checkpoints, lambda model: bench.draw(model, seed, **options))
    trainer = diffusion_training.train if family == "diffusion" else training.train
    run_dir = bench.out_root / f"{family.lower()}-seed{seed}"
    t0 = time.time()
    # epochs without end: the budget stops the run; sample grids only at the first epoch (they are not scored)
    result = trainer(bench.real_train, run_dir=run_dir, resume=False, verbose=0, display=False, callbacks=[budget],
                     **{"epochs": 10**6, "steps_per_epoch": args.steps_per_epoch, "sample_every": 10**6,
                        **knobs, "seed": seed})
    wall = time.time() - t0
    alarms = (result.health.records or [{}])[-1].get("alarms", [])
    rows = []
    for i, snap in enumerate(budget.taken):
        row = bench.score(family, knobs, seed, snap["steps"], snap["fake"], snap["labels"], snap["logs"],
                          alarms if i == len(budget.taken) - 1 else [], wall,
                          run_dir / f"evaluation-{snap['steps']}")
        rows.append({**row, "cpu_minutes": snap["cpu_seconds"] / 60.0, "checkpoint": args.checkpoints[i],
                     "eval_steps": options.get("steps")})
    return rows, result.model if family == "diffusion" else result.gan


def latency(gan, denoiser, n: int, steps: list[int], repeats: int) -> dict[str, float]:
    """Sampling ms/image (``sampling.ms_per_image``: the fastest of ``repeats`` draws of ``n`` after a warm-up):
    the GAN's one forward pass and the diffusion model at each number of DDIM steps."""
    out = {"GAN (1 forward pass)": sampling.ms_per_image(gan, n, repeats=repeats)}
    for k in steps:
        out[f"diffusion, {k} DDIM steps"] = sampling.ms_per_image(denoiser, n, repeats=repeats, steps=k, guidance=1.0)
    return out


def minutes_to_levels(rows: list[dict], metric: str, levels: list[float]) -> dict[str, dict[str, list]]:
    """For each family and level: per seed, the CPU-minutes of the first checkpoint with ``metric`` <= level
    (None when no checkpoint reached it)."""
    out: dict[str, dict[str, list]] = {}
    for family in FAMILIES:
        mine = [r for r in rows if r["name"] == family]
        for level in levels:
            per_seed = []
            for seed in sorted({r["seed"] for r in mine}):
                reached = [r["cpu_minutes"] for r in sorted(mine, key=lambda r: r["cpu_minutes"])
                           if r["seed"] == seed and not math.isnan(r[metric]) and r[metric] <= level]
                per_seed.append(reached[0] if reached else None)
            out.setdefault(family, {})[f"{level:g}"] = per_seed
    return out


def format_table(saved: dict) -> str:
    """The one table: measures per family and checkpoint, CPU-minutes to each level, sampling ms/image."""
    rows, w = saved["rows"], 16
    lines = [f"brain-mri 64 px · seeds {saved['seeds']} · {saved['budget_minutes']:g} CPU-minutes of training steps "
             f"a run · mean ± std over seeds · {saved['n_samples']} samples (diffusion: {saved['eval_steps']} DDIM "
             f"steps) · {saved['machine']}",
             f"{'family':<11}{'budget':>7}{'CPU-min':>9}{'steps':>8}" + "".join(f"{lab:>{w}}" for _, lab, _ in METRICS)]
    for family in FAMILIES:
        for fraction in saved["checkpoints"]:
            mine = [r for r in rows if r["name"] == family and r["checkpoint"] == fraction]
            if not mine:
                continue
            cells = [f"{m:.{d}f} ± {sd:.{d}f}" for m, sd, d in
                     ((*mean_std([r[k] for r in mine]), d) for k, _, d in METRICS)]
            minutes, steps = mean_std([r["cpu_minutes"] for r in mine])[0], mean_std([r["steps"] for r in mine])[0]
            lines.append(f"{family:<11}{fraction:>7.0%}{minutes:>9.2f}{steps:>8.0f}" + "".join(f"{c:>{w}}" for c in cells))
    lines += ["", f"CPU-minutes of training to reach {saved['level_metric']} ≤ level (mean over the seeds that "
              "reached it within the budget; n/N = how many seeds did)",
              f"{'family':<11}" + "".join(f"{'≤ ' + level:>22}" for level in saved["levels_reached"][FAMILIES[0]])]
    for family in FAMILIES:
        cells = []
        for per_seed in saved["levels_reached"][family].values():
            hit = [m for m in per_seed if m is not None]
            cells.append(f"{np.mean(hit):.2f} ({len(hit)}/{len(per_seed)})" if hit else f"not reached (0/{len(per_seed)})")
        lines.append(f"{family:<11}" + "".join(f"{c:>22}" for c in cells))
    repeats = saved.get("latency_repeats", 1)  # results written before the option timed one draw
    lines += ["", f"sampling, ms per image (wall clock, {saved['latency_images']} images a draw, fastest of "
              f"{repeats} draw{'s' if repeats > 1 else ''} after a warm-up)"]
    lines += [f"  {what:<28}{ms:>10.1f}" for what, ms in saved["latency_ms"].items()]
    refs = saved.get("references") or {}
    if refs:
        lines.append(f"ref: noise floor (train half vs half) FD {refs['floor_fd']:.2f}, coverage "
                     f"{refs['floor_coverage']:.3f}; real test vs train FD {refs['test_vs_train_fd']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="CPU-minutes of training steps per run")
    parser.add_argument("--checkpoints", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                        help="fractions of the budget at which the run is scored")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-samples", type=int, default=1000, help="generated images scored per checkpoint")
    parser.add_argument("--eval-steps", type=int, default=10, help="DDIM steps of the diffusion samples scored")
    parser.add_argument("--latency-steps", type=int, nargs="+", default=[10, 50, 250])
    parser.add_argument("--latency-images", type=int, default=16, help="images timed per setting")
    parser.add_argument("--latency-repeats", type=int, default=3, help="timed draws per setting (the fastest counts)")
    parser.add_argument("--level-metric", default="two_sample_acc", choices=LEVEL_METRICS)
    parser.add_argument("--levels", type=float, nargs="+", default=[0.95, 0.85, 0.75, 0.65])
    parser.add_argument("--steps-per-epoch", type=int, default=STEPS_PER_EPOCH)
    parser.add_argument("--gan-knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a GAN recipe knob changed for this benchmark (repeatable)")
    parser.add_argument("--diffusion-knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a diffusion recipe knob changed for this benchmark (repeatable), e.g. base_filters=16")
    parser.add_argument("--utility-epochs", type=int, default=8)
    parser.add_argument("--no-tstr", action="store_true", help="skip TSTR (a classifier trained per checkpoint)")
    parser.add_argument("--extractor-epochs", type=int, default=12, help="epochs of the kit's feature extractor")
    parser.add_argument("--tiny-eval", action="store_true",
                        help="evaluate() with tiny sample sizes and one short realism classifier: smoke tests only")
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/diffusion_vs_gan.json)")
    parser.add_argument("--show", default=None, metavar="JSON", help="only print the table of a saved result")
    args = parser.parse_args(argv)
    if args.show:
        print(format_table(json.loads(Path(args.show).read_text())))
        return 0
    if not all(0.0 < f <= 1.0 for f in args.checkpoints) or args.budget_minutes <= 0:
        parser.error("--budget-minutes must be > 0 and every --checkpoints fraction in (0, 1]")
    args.checkpoints = sorted(set(args.checkpoints))
    knobs = {"GAN": parse_knobs(args.gan_knob), "diffusion": parse_knobs(args.diffusion_knob)}

    t0 = time.time()
    tiny = TINY_EVAL if args.tiny_eval else {}
    bench = Bench(config.artifacts_dir() / "benchmarks" / "diffusion-vs-gan-runs", args.n_samples,
                  args.utility_epochs, tstr=not args.no_tstr, extractor_epochs=args.extractor_epochs,
                  evaluate_options=tiny)
    rows, last = [], {}
    for seed in args.seeds:
        for family in FAMILIES:
            family_rows, last[family] = train_family(bench, family, knobs[family], seed, args)
            for row in family_rows:
                rows.append(row)
                print(f"  {family} · seed {seed} · {row['cpu_minutes']:.1f} CPU-min ({row['steps']} steps): "
                      f"2-sample acc {row['two_sample_acc']:.3f}, FD {row['fd']:.2f}, coverage {row['coverage']:.3f}, "
                      f"copies {row['copies']:.1f}% (eval {row['eval_seconds']:.0f} s)", flush=True)
    saved = {"benchmark": "diffusion_vs_gan", "dataset": "brain-mri", "image_size": 64, "seeds": args.seeds,
             "budget_minutes": args.budget_minutes, "checkpoints": args.checkpoints, "n_samples": args.n_samples,
             "eval_steps": args.eval_steps, "knobs": knobs, "rows": rows, "references": bench.references,
             "level_metric": args.level_metric,
             "levels_reached": minutes_to_levels(rows, args.level_metric, args.levels),
             # the last seed's models: sampling cost depends on the networks, not on their weights
             "latency_ms": latency(last["GAN"], last["diffusion"], args.latency_images, args.latency_steps,
                                   args.latency_repeats),
             "latency_images": args.latency_images, "latency_repeats": args.latency_repeats, "machine": machine(), "date": now(),
             "note": "feature space = the kit's classifier, not InceptionV3: not comparable with published FIDs"}
    saved["seconds"] = round(time.time() - t0, 1)
    saved["table"] = format_table(saved)
    print()
    print(saved["table"])
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "diffusion_vs_gan.json"
    write_json(out, saved)
    print(f"\nwrote {out.name} ({time.time() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
