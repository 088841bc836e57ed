#!/usr/bin/env python3
"""pix2pix vs the same U-Net trained with L1 only (and bicubic for super-resolution), on brain-mri-pairs.

For every seed and both tasks (tissue -> T1, 4x super-resolution) it trains the
U-Net twice with the kit's recipe (``recipe.Pix2PixConfig``) — once with the PatchGAN
(L1 + adversarial), once with L1 alone — and scores the test split:

- PSNR and SSIM (``evaluation.image_quality``, checked against ``tf.image``);
- FD to the real test targets in the kit's feature space (the classifier
  ``evaluation.feature_extractor`` trains on the brain-mri train split at this size);
- sharpness: high-frequency energy of the outputs / that of the targets (1 = as real);
- invented detail: fine detail in the outputs that is not in the targets.

Then the hallucination test: super-resolution trained on three of the four
anatomical levels, applied to the test slices of the fourth (``--held-out``), and
to the test slices of the three it saw, for comparison.

Prints a table (mean ± std over seeds) and writes JSON to
``artifacts/benchmarks/pix2pix.json``::

    .venv/bin/python benchmarks/pix2pix.py                  # 3 seeds, full recipe
    .venv/bin/python benchmarks/pix2pix.py --seeds 0 --epochs 2 --max-pairs 512   # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from medgan_helpers import config, data, evaluation, fileio, pix2pix  # noqa: E402
from medgan_helpers.evaluation import image_quality  # noqa: E402

METRICS = ("psnr", "ssim", "fd", "sharpness", "invented")


def score(methods: dict, targets: np.ndarray, extractor) -> dict:
    return image_quality.compare(methods, targets, extractor=extractor)


def one_seed(seed: int, args, extractor, tasks: list[str]) -> dict:
    """Every number of one seed: {task: {method: {metric: value}}}, plus the hallucination test."""
    knobs = {"seed": seed}
    if args.epochs:
        knobs["epochs"] = args.epochs
    if args.max_pairs:
        knobs["max_pairs"] = args.max_pairs
    if args.l1_weight is not None:
        knobs["l1_weight"] = args.l1_weight
    out: dict = {"seconds": {}}
    for task in tasks:
        train = data.load_dataset("brain-mri-pairs", args.size, "train", task=task)
        test = data.load_dataset("brain-mri-pairs", args.size, "test", task=task)
        methods = {}
        for name, adversarial in (("pix2pix (L1 + GAN)", True), ("U-Net, L1 only", False)):
            trained = pix2pix.train(train, adversarial=adversarial, **knobs)
            methods[name] = trained.model.translate(test.input_images)
            out["seconds"][f"{task}/{name}"] = trained.seconds
            out.setdefault("steps", trained.steps)
            print(f"  seed {seed} {task} {name}: {trained.steps} steps in {trained.seconds:.0f} s", flush=True)
        if task == "super-resolution":
            methods = {"bicubic": pix2pix.bicubic(test.input_images, test.image_size), **methods}
        out[task] = score(methods, test.target_images, extractor)
    if "super-resolution" in tasks and not args.no_hallucination:
        out["hallucination"] = hallucination(seed, args, knobs, extractor)
    return out


def hallucination(seed: int, args, knobs: dict, extractor) -> dict:
    """SR trained on three levels; scored on the held-out level's test slices and on the others'."""
    train = data.load_dataset("brain-mri-pairs", args.size, "train", task="super-resolution")
    test = data.load_dataset("brain-mri-pairs", args.size, "test", task="super-resolution")
    train = train.subset(np.flatnonzero(train.labels != args.held_out))
    parts = {"seen levels": test.subset(np.flatnonzero(test.labels != args.held_out)),
             "held-out level": test.subset(np.flatnonzero(test.labels == args.held_out))}
    models = {name: pix2pix.train(train, adversarial=adv, **knobs).model
              for name, adv in (("pix2pix (L1 + GAN)", True), ("U-Net, L1 only", False))}
    result = {}
    for part, pairs in parts.items():
        methods = {"bicubic": pix2pix.bicubic(pairs.input_images, pairs.image_size)}
        methods.update({name: m.translate(pairs.input_images) for name, m in models.items()})
        result[part] = score(methods, pairs.target_images, extractor if len(pairs) >= 10 else None)
        if part == "held-out level" and args.figure and seed == args.seeds[0]:
            picks = [int(len(pairs) * f) for f in (0.2, 0.7)]
            fig = pix2pix.comparison_figure(
                pairs.input_images, methods, pairs.target_images, picks,
                title=f"4x super-resolution on '{data.brain.CLASS_NAMES[args.held_out]}', a level left out "
                      f"of training (seed {seed})")
            Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(args.figure, dpi=110)
            print(f"wrote {args.figure}")
    return result


def aggregate(per_seed: list[dict]) -> dict:
    """mean and std over seeds of every number, same nesting."""
    def walk(items):
        first = items[0]
        if isinstance(first, dict):
            return {k: walk([i[k] for i in items]) for k in first if all(k in i for i in items)}
        values = np.asarray(items, np.float64)
        return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "values": [float(v) for v in values]}
    keep = [{k: v for k, v in s.items() if k not in ("seconds", "steps")} for s in per_seed]
    return walk(keep)


def fmt(cell: dict | None, digits: int) -> str:
    if cell is None:
        return "—"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def table(summary: dict, title: str) -> str:
    cols = [("psnr", "PSNR dB ↑", 2), ("ssim", "SSIM ↑", 3), ("fd", "FD ↓", 2),
            ("sharpness", "sharpness (1=real)", 2), ("invented", "invented detail ↓", 3)]
    lines = [title, "method".ljust(22) + "".join(h.rjust(20) for _, h, _ in cols)]
    for method, row in summary.items():
        lines.append(method.ljust(22) + "".join(fmt(row.get(k), d).rjust(20) for k, _, d in cols))
    return "\n".join(lines)


def targets(summary: dict) -> list[str]:
    """The issue's targets, each with its verdict."""
    gan, l1 = "pix2pix (L1 + GAN)", "U-Net, L1 only"
    lines = []
    sr = summary.get("super-resolution")
    if sr:
        gain = sr[gan]["psnr"]["mean"] - sr["bicubic"]["psnr"]["mean"]
        lines.append(f"SR: GAN - bicubic PSNR = {gain:+.2f} dB (target >= +3 dB): {'met' if gain >= 3 else 'MISSED'}")
    for task in ("tissue-to-t1", "super-resolution"):
        if task not in summary:
            continue
        g, b = summary[task][gan], summary[task][l1]
        fd = g["fd"]["mean"] < b["fd"]["mean"]
        sharp = abs(np.log(g["sharpness"]["mean"])) < abs(np.log(b["sharpness"]["mean"]))
        dpsnr = g["psnr"]["mean"] - b["psnr"]["mean"]
        lines.append(f"{task}: GAN vs L1-only: FD {g['fd']['mean']:.2f} vs {b['fd']['mean']:.2f} "
                     f"({'better' if fd else 'NOT better'}); sharpness {g['sharpness']['mean']:.2f} vs "
                     f"{b['sharpness']['mean']:.2f} ({'closer to 1' if sharp else 'NOT closer to 1'}); "
                     f"PSNR {dpsnr:+.2f} dB ({'within 1 dB' if dpsnr >= -1 else 'MORE than 1 dB lower'})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(data.pairs.TASKS), choices=data.pairs.TASKS)
    parser.add_argument("--epochs", type=int, default=None, help="default: recipe.Pix2PixConfig")
    parser.add_argument("--max-pairs", type=int, default=None)
    parser.add_argument("--l1-weight", type=float, default=None, help="λ (default: recipe.Pix2PixConfig, 100)")
    parser.add_argument("--held-out", type=int, default=0, help="level left out of training (0-3)")
    parser.add_argument("--no-hallucination", action="store_true")
    parser.add_argument("--figure", default=None, help="PNG of the hallucination test (first seed)")
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/pix2pix.json)")
    args = parser.parse_args(argv)

    start = time.time()
    real = data.load_dataset("brain-mri", args.size, "train")
    extractor = evaluation.feature_extractor(real, verbose=False)
    per_seed = []
    for seed in args.seeds:
        per_seed.append(one_seed(seed, args, extractor, args.tasks))
    summary = aggregate(per_seed)
    held_out = data.brain.CLASS_NAMES[args.held_out]
    text = [f"brain-mri-pairs {args.size} px, test split, {len(args.seeds)} seed(s) {args.seeds}, "
            f"{per_seed[0].get('steps')} steps per model, mean ± std over seeds"]
    for task in args.tasks:
        text.append(table(summary[task], f"\n{task}"))
    if "hallucination" in summary:
        for part, rows in summary["hallucination"].items():
            text.append(table(rows, f"\nsuper-resolution trained without '{held_out}': test slices of the {part}"))
    text += ["", *targets(summary), f"\nwall time {time.time() - start:.0f} s on {platform.node()} "
             f"({os.cpu_count()} CPU cores, {platform.processor() or platform.machine()})"]
    print("\n".join(text))
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "pix2pix.json"
    fileio.write_json(out, {"args": vars(args), "recipe": pix2pix.knobs(**{k: v for k, v in (
        ("epochs", args.epochs), ("max_pairs", args.max_pairs), ("l1_weight", args.l1_weight)) if v is not None}),
        "held_out_level": held_out, "summary": summary, "per_seed": per_seed, "table": "\n".join(text),
        "seconds": round(time.time() - start, 1), "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
