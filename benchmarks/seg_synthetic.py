#!/usr/bin/env python3
"""Do synthetic (image, mask) pairs help a segmenter? Four arms on brain-mri-seg, several seeds.

For every seed and every small-real-set size (``--fractions`` of the training pairs of
the levels seen in training), the U-Net segmenter (``segmentation.train_segmenter``,
Dice + cross-entropy) is trained on:

(a) the small real set alone;
(b) synthetic pairs only: pix2pix trained on the small real set in the mask -> image
    direction (``mask_synthesis.train``) paints a slice for every new mask; the new
    masks are the real ones under elastic + affine deformation (``mask_synthesis.new_masks``,
    ``--copies`` per real mask);
(c) the small real set plus those synthetic pairs;
(d) the control: the small real set plus the real pairs moved by *the same*
    deformations (``deform.deform_pairs``, same seed: mask for mask the masks of (b)),
    no generator. (c) beating (a) but not (d) means the generator added nothing that
    plain augmentation does not.

The generator only sees the small real set: the experiment asks what a lab with few
labelled slices gains, so it may not learn from labels the segmenter is denied. Every
segmenter gets about the same number of updates (``--seg-steps``), so a bigger
training set is not rewarded with more training.

Scores: Dice per tissue (CSF, grey matter, white matter; background left out) and
their mean, on the test planes of the levels seen in training and on the test planes
of one anatomical level left out of all training (``--held-out``, a level of
``brain-mri``: ``data.brain.CLASS_NAMES``, axial ranges ``data.brain.LEVELS_MM``).
HD95 goes into the JSON, and so do the realism ruler's pixel measures of the synthetic
images against the real slices moved onto the same masks (``evaluation.realism``:
high-frequency ratio, intensity distance).

Prints one table (mean ± std over seeds) and writes JSON to
``artifacts/benchmarks/seg_synthetic.json``::

    .venv/bin/python benchmarks/seg_synthetic.py                    # 3 seeds, 5 % and 20 %
    .venv/bin/python benchmarks/seg_synthetic.py --seeds 0 --gen-epochs 2 --seg-steps 100   # a quick look
    .venv/bin/python benchmarks/seg_synthetic.py --show artifacts/benchmarks/seg_synthetic.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from medgan_helpers import config, data, deform, fileio, mask_synthesis, segmentation  # noqa: E402
from medgan_helpers.data import brain_seg  # noqa: E402
from medgan_helpers.evaluation import realism  # noqa: E402

ARMS = ("(a) small real", "(b) synthetic only", "(c) real + synthetic", "(d) real + deformed real")
PARTS = ("seen levels", "held-out level")
TISSUES = brain_seg.LABEL_NAMES[1:]


def small_real_set(seen, fraction: float, seed: int):
    """A random ``fraction`` of the seen-level training pairs (at least 2), drawn by ``seed``."""
    n = min(len(seen), max(2, round(fraction * len(seen))))
    picks = np.sort(np.random.default_rng(seed).choice(len(seen), n, replace=False))
    return seen.subset(picks)


def arms(real, args, seed: int) -> tuple[dict, dict]:
    """The four training sets {arm: (images, masks)} and facts about the generator."""
    knobs = {"seed": seed, "batch_size": min(args.gen_batch_size, len(real)),
             "g_base_filters": args.gen_filters, "d_base_filters": args.gen_filters}
    if args.gen_epochs:
        knobs["epochs"] = args.gen_epochs
    generator = mask_synthesis.train(real, **knobs)
    deform_seed = 10_000 + seed  # one seed for both: (b) and (d) get the same deformations
    masks, _ = mask_synthesis.new_masks(real.masks, copies=args.copies, seed=deform_seed)
    syn_images, syn_masks = mask_synthesis.synthetic_pairs(generator, masks)
    moved_images, moved_masks, _ = deform.deform_pairs(real.input_images, real.masks, copies=args.copies,
                                                       seed=deform_seed)
    if not np.array_equal(moved_masks, syn_masks):
        raise RuntimeError("the control's deformed masks differ from the synthetic pairs' masks: the arms "
                           "would not be comparable (mask_synthesis.new_masks and deform.deform_pairs disagree).")
    r_images, r_masks = real.input_images, real.masks
    sets = {
        ARMS[0]: (r_images, r_masks),
        ARMS[1]: (syn_images, syn_masks),
        ARMS[2]: (np.concatenate([r_images, syn_images]), np.concatenate([r_masks, syn_masks])),
        ARMS[3]: (np.concatenate([r_images, moved_images]), np.concatenate([r_masks, moved_masks])),
    }
    facts = {"generator_steps": generator.steps, "generator_seconds": generator.seconds,
             "generator_l1": generator.history.get("l1", [None])[-1],
             "synthetic_l1_to_deformed_real": float(np.mean(np.abs(syn_images - moved_images))),
             **realism_of(syn_images, moved_images)}
    return sets, facts


def realism_of(synthetic: np.ndarray, real: np.ndarray) -> dict:
    """The realism ruler's pixel measures of the synthetic images against the real ones on the same masks
    (the control's deformed real slices): high-frequency ratio (1 = as real) and intensity distance."""
    try:
        distance = realism.intensity_quantile_distance(synthetic, real)
    except ValueError:  # the generator painted no tissue at all: no intensities to compare
        distance = None
    return {"hf_ratio": realism.high_frequency_ratio(synthetic, real), "intensity_distance": distance}


def scores(model, test_parts: dict) -> dict:
    """{part: {"dice": {tissue: ...}, "mean_dice": ..., "hd95": {tissue: ...}}} of one segmenter."""
    out = {}
    for part, pairs in test_parts.items():
        s = segmentation.segmentation_scores(pairs.masks, segmentation.predict_masks(model, pairs.input_images),
                                             brain_seg.LABEL_NAMES)
        out[part] = {"dice": {t: s.dice[t] for t in TISSUES}, "mean_dice": s.mean_dice(),
                     "hd95": {t: s.hd95[t] for t in TISSUES}}
    return out


def one_seed(seed: int, args, seen, test_parts: dict) -> dict:
    """Every number of one seed: {fraction: {"n_real": …, "arms": {arm: scores}, …}}."""
    out = {}
    for fraction in args.fractions:
        real = small_real_set(seen, fraction, seed)
        sets, facts = arms(real, args, seed)
        row = {"n_real": len(real), **facts, "arms": {}, "segmenter_steps": {}}
        for arm, (images, masks) in sets.items():
            batch = min(args.seg_batch_size, len(images))
            epochs = max(1, math.ceil(args.seg_steps / math.ceil(len(images) / batch)))
            fit = segmentation.train_segmenter((images, masks), num_classes=len(brain_seg.LABEL_NAMES),
                                               epochs=epochs, batch_size=batch, seed=seed,
                                               base_filters=args.seg_filters)
            row["arms"][arm] = {"n_train": len(images), **scores(fit.model, test_parts)}
            row["segmenter_steps"][arm] = epochs * math.ceil(len(images) / batch)
            dice = row["arms"][arm]
            print(f"  seed {seed} {fraction:.0%} {arm}: n={len(images)}, "
                  + ", ".join(f"{p} Dice {dice[p]['mean_dice']:.3f}" for p in test_parts), flush=True)
        out[str(fraction)] = row
    return out


def aggregate(per_seed: list[dict]) -> dict:
    """{fraction: {arm: {part: {column: {"mean", "std", "values"}}}}} over seeds (NaN/None left out)."""
    def stats(values):
        v = np.array([np.nan if x is None else x for x in values], np.float64)
        v = v[np.isfinite(v)]
        return {"mean": float(v.mean()) if len(v) else None,
                "std": float(v.std(ddof=1)) if len(v) > 1 else (0.0 if len(v) else None),
                "values": [float(x) for x in v]}

    summary = {}
    for fraction in per_seed[0]:
        summary[fraction] = {}
        for arm in per_seed[0][fraction]["arms"]:
            cells = [s[fraction]["arms"][arm] for s in per_seed]
            summary[fraction][arm] = {
                part: {**{t: stats([c[part]["dice"][t] for c in cells]) for t in TISSUES},
                       "mean": stats([c[part]["mean_dice"] for c in cells])}
                for part in PARTS}
        summary[fraction]["synthetic images"] = {
            key: stats([s[fraction].get(key) for s in per_seed]) for key in ("hf_ratio", "intensity_distance")}
    return summary


def fmt(cell: dict | None) -> str:
    if not cell or cell.get("mean") is None:
        return "—"
    return f"{cell['mean']:.3f} ± {cell['std']:.3f}"


def table(saved: dict) -> str:
    """The result as text: one row per (real-set size, arm), Dice per tissue on both test parts."""
    a, summary = saved["args"], saved["summary"]
    cols = [*TISSUES, "mean"]
    lines = [f"brain-mri-seg {a['size']} px: segmenter Dice (mean ± std over seeds {a['seeds']}); "
             f"held-out level: '{saved['held_out_level']}'",
             " " * 34 + "".join(f"{p:^{17 * len(cols)}}" for p in PARTS),
             "real set".ljust(10) + "arm".ljust(24) + "".join(c.rjust(17) for _ in PARTS for c in cols)]
    for fraction, rows in summary.items():
        n_real = saved["per_seed"][0][fraction]["n_real"]
        for arm, parts in rows.items():
            if arm not in ARMS:
                continue
            label = f"{float(fraction):.0%} ({n_real})"
            lines.append(label.ljust(10) + arm.ljust(24)
                         + "".join(fmt(parts[p].get(c)).rjust(17) for p in PARTS for c in cols))
    lines.append("\nsynthetic images against the real ones on the same masks (realism ruler): "
                 + "; ".join(f"{float(f):.0%}: high-frequency ratio {fmt(r['synthetic images']['hf_ratio'])} "
                             f"(1 = as real), intensity distance {fmt(r['synthetic images']['intensity_distance'])}"
                             for f, r in summary.items()))
    lines.append(f"\nwall time {saved['seconds']:.0f} s on {saved['machine']['node']} "
                 f"({saved['machine']['cpus']} CPU cores, {saved['machine']['platform']})")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.2],
                        help="sizes of the small real set, as fractions of the seen-level training pairs")
    parser.add_argument("--held-out", type=int, default=0, help="brain-mri level left out of all training (0-3)")
    parser.add_argument("--copies", type=int, default=4, help="deformed masks per real mask (arms b, c, d)")
    parser.add_argument("--gen-epochs", type=int, default=None, help="generator epochs (default: recipe)")
    parser.add_argument("--gen-batch-size", type=int, default=16)
    parser.add_argument("--gen-filters", type=int, default=16, help="width of G's and D's first block")
    parser.add_argument("--seg-steps", type=int, default=600, help="segmenter updates per arm (about)")
    parser.add_argument("--seg-batch-size", type=int, default=16)
    parser.add_argument("--seg-filters", type=int, default=16, help="width of the segmenter's first block")
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/seg_synthetic.json)")
    parser.add_argument("--show", default=None, metavar="JSON", help="only print the table of a saved result")
    args = parser.parse_args(argv)
    if not 0 <= args.held_out < len(data.brain.CLASS_NAMES):
        parser.error(f"--held-out {args.held_out}: choose a level 0-{len(data.brain.CLASS_NAMES) - 1} "
                     f"({', '.join(data.brain.CLASS_NAMES)}).")
    if any(not 0 < f <= 1 for f in args.fractions):
        parser.error(f"--fractions {args.fractions}: each must be in (0, 1].")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.show:
        print(table(json.loads(Path(args.show).read_text(encoding="utf-8"))))
        return 0
    start = time.time()
    train = data.load_dataset("brain-mri-seg", args.size, "train")
    test = data.load_dataset("brain-mri-seg", args.size, "test")
    seen = train.subset(np.flatnonzero(train.labels != args.held_out))
    test_parts = {PARTS[0]: test.subset(np.flatnonzero(test.labels != args.held_out)),
                  PARTS[1]: test.subset(np.flatnonzero(test.labels == args.held_out))}
    per_seed = [one_seed(seed, args, seen, test_parts) for seed in args.seeds]
    saved = {"args": {k: v for k, v in vars(args).items() if k not in ("show", "out")},
             "held_out_level": data.brain.CLASS_NAMES[args.held_out],
             "n_seen_train": len(seen), "n_test": {p: len(s) for p, s in test_parts.items()},
             "deform": deform.DeformSettings().to_dict(), "summary": aggregate(per_seed), "per_seed": per_seed,
             "seconds": round(time.time() - start, 1),
             "machine": {"node": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform()}}
    text = table(saved)
    print(text)
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "seg_synthetic.json"
    fileio.write_json(out, {**saved, "table": text})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
