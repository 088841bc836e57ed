"""Do synthetic (image, mask) pairs help a segmenter? The experiment of notebook 11 and
``benchmarks/seg_synthetic.py``, in one place.

For a seed and a small-real-set size (a fraction of the training pairs of the levels seen
in training), the U-Net segmenter (``segmentation.train_segmenter``, Dice + cross-entropy)
is trained on four sets (:data:`ARMS`):

(a) the small real set alone;
(b) synthetic pairs only: pix2pix trained on the small real set in the mask -> image
    direction (``mask_synthesis.train``) paints a slice for every new mask; the new masks
    are the real ones under elastic + affine deformation (``mask_synthesis.new_masks``,
    ``copies`` per real mask);
(c) the small real set plus those synthetic pairs;
(d) the control: the small real set plus the real pairs moved by *the same* deformations
    (``deform.deform_pairs``, same seed: mask for mask the masks of (b)), no generator.
    (c) beating (a) but not (d) means the generator added nothing that plain augmentation
    does not.

The generator only sees the small real set: the question is what a lab with few labelled
slices gains, so it may not learn from labels the segmenter is denied. Every segmenter
gets about the same number of updates (``seg_steps``), so a bigger training set is not
rewarded with more training.

Scores (:func:`scores`): Dice per tissue (background left out) and their mean, plus HD95,
on the test planes of the levels seen in training and on those of one anatomical level
left out of all training (:data:`PARTS`). The synthetic images are also measured with the
realism ruler's pixel measures against the real slices moved onto the same masks
(:func:`realism_of`).

:func:`experiment` runs it all and returns a JSON-ready dict; :func:`table` prints it;
:func:`paired_differences` reads it seed by seed.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from medgan_helpers import deform, mask_synthesis, pix2pix, segmentation
from medgan_helpers.data import brain, brain_seg
from medgan_helpers.evaluation import realism

ARMS = ("(a) small real", "(b) synthetic only", "(c) real + synthetic", "(d) real + deformed real")
PARTS = ("seen levels", "held-out level")
TISSUES = brain_seg.LABEL_NAMES[1:]


@dataclass(frozen=True)
class Settings:
    """The knobs of one run of the experiment (the benchmark's command-line options)."""

    copies: int = 4  # deformed masks per real mask (arms b, c, d)
    gen_epochs: int | None = None  # generator epochs (None: the pix2pix recipe's)
    gen_batch_size: int = 16
    gen_filters: int = 16  # width of G's and D's first block
    gen_lr: float | None = None  # G's learning rate (None: the pix2pix recipe's 2e-4)
    seg_steps: int = 600  # segmenter updates per arm (about)
    seg_batch_size: int = 16
    seg_filters: int = 16  # width of the segmenter's first block

    def __post_init__(self) -> None:
        for name in ("copies", "gen_batch_size", "gen_filters", "seg_steps", "seg_batch_size", "seg_filters"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1.")
        if self.gen_epochs is not None and self.gen_epochs < 1:
            raise ValueError(f"gen_epochs={self.gen_epochs!r} must be >= 1, or None for the recipe's.")
        if self.gen_lr is not None and not self.gen_lr > 0:
            raise ValueError(f"gen_lr={self.gen_lr!r} must be > 0, or None for the recipe's.")

    def to_dict(self) -> dict:
        """A JSON-friendly copy."""
        return asdict(self)


def split_levels(train, test, held_out: int) -> tuple:
    """(training pairs of the levels seen, {part: test pairs}): ``held_out`` (a ``brain-mri`` level,
    ``data.brain.CLASS_NAMES``) is left out of training and scored on its own."""
    if not 0 <= held_out < len(brain.CLASS_NAMES):
        raise ValueError(f"held_out={held_out}: choose a level 0-{len(brain.CLASS_NAMES) - 1} "
                         f"({', '.join(brain.CLASS_NAMES)}).")
    seen = train.subset(np.flatnonzero(train.labels != held_out))
    parts = {PARTS[0]: test.subset(np.flatnonzero(test.labels != held_out)),
             PARTS[1]: test.subset(np.flatnonzero(test.labels == held_out))}
    return seen, parts


def small_real_set(seen, fraction: float, seed: int):
    """A random ``fraction`` of the seen-level training pairs (at least 2), drawn by ``seed``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: the small real set is a fraction in (0, 1] of the training pairs.")
    n = min(len(seen), max(2, round(fraction * len(seen))))
    picks = np.sort(np.random.default_rng(seed).choice(len(seen), n, replace=False))
    return seen.subset(picks)


def deform_seed(seed: int) -> int:
    """The deformations' seed: one for arms (b) and (d), so they get the very same masks."""
    return 10_000 + seed


def train_generator(real, settings: Settings = Settings(), seed: int = 0) -> pix2pix.Trained:
    """pix2pix from ``real``'s label maps to its slices (``mask_synthesis.train``), sized by ``settings``."""
    knobs = {"seed": seed, "batch_size": min(settings.gen_batch_size, len(real)),
             "g_base_filters": settings.gen_filters, "d_base_filters": settings.gen_filters}
    if settings.gen_epochs:
        knobs["epochs"] = settings.gen_epochs
    if settings.gen_lr:
        knobs["g_lr"] = settings.gen_lr
    return mask_synthesis.train(real, **knobs)


def training_sets(real, generator, settings: Settings = Settings(), seed: int = 0) -> tuple[dict, dict]:
    """The four training sets {arm: (images, masks)} and facts about the synthetic images.

    ``generator``: from :func:`train_generator` on ``real`` (or ``mask_synthesis.train``).
    """
    masks, _ = mask_synthesis.new_masks(real.masks, copies=settings.copies, seed=deform_seed(seed))
    syn_images, syn_masks = mask_synthesis.synthetic_pairs(generator, masks)
    moved_images, moved_masks, _ = deform.deform_pairs(real.input_images, real.masks, copies=settings.copies,
                                                       seed=deform_seed(seed))
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
    facts = {"synthetic_l1_to_deformed_real": float(np.mean(np.abs(syn_images - moved_images))),
             **realism_of(syn_images, moved_images)}
    if isinstance(generator, pix2pix.Trained):
        facts = {"generator_steps": generator.steps, "generator_seconds": generator.seconds,
                 "generator_l1": generator.history.get("l1", [None])[-1], **facts}
    return sets, facts


def realism_of(synthetic: np.ndarray, real: np.ndarray) -> dict:
    """The realism ruler's pixel measures of the synthetic images against the real ones on the same masks
    (the control's deformed real slices): high-frequency ratio (1 = as real) and intensity distance."""
    try:
        distance = realism.intensity_quantile_distance(synthetic, real)
    except ValueError:  # the generator painted no tissue at all: no intensities to compare
        distance = None
    return {"hf_ratio": realism.high_frequency_ratio(synthetic, real), "intensity_distance": distance}


def train_arm(images: np.ndarray, masks: np.ndarray, settings: Settings = Settings(), seed: int = 0):
    """A segmenter fitted on one arm's pairs for about ``settings.seg_steps`` updates: (model, updates)."""
    batch = min(settings.seg_batch_size, len(images))
    per_epoch = math.ceil(len(images) / batch)
    epochs = max(1, math.ceil(settings.seg_steps / per_epoch))
    fit = segmentation.train_segmenter((images, masks), num_classes=len(brain_seg.LABEL_NAMES), epochs=epochs,
                                       batch_size=batch, seed=seed, base_filters=settings.seg_filters)
    return fit.model, epochs * per_epoch


def scores(model, test_parts: dict) -> dict:
    """{part: {"dice": {tissue: ...}, "mean_dice": ..., "hd95": {tissue: ...}}} of one segmenter."""
    out = {}
    for part, pairs in test_parts.items():
        s = segmentation.segmentation_scores(pairs.masks, segmentation.predict_masks(model, pairs.input_images),
                                             brain_seg.LABEL_NAMES)
        out[part] = {"dice": {t: s.dice[t] for t in TISSUES}, "mean_dice": s.mean_dice(),
                     "hd95": {t: s.hd95[t] for t in TISSUES}}
    return out


def run_fraction(seen, test_parts: dict, fraction: float, seed: int, settings: Settings = Settings(),
                 log: Callable[[str], None] | None = print, generator=None) -> dict:
    """Every number of one (fraction, seed): generator, four segmenters, their scores.

    ``generator``: one already trained by :func:`train_generator` on this (fraction, seed)'s
    small real set, to use instead of training it again.
    """
    real = small_real_set(seen, fraction, seed)
    generator = train_generator(real, settings, seed) if generator is None else generator
    sets, facts = training_sets(real, generator, settings, seed)
    row = {"n_real": len(real), **facts, "arms": {}, "segmenter_steps": {}}
    for arm, (images, masks) in sets.items():
        model, steps = train_arm(images, masks, settings, seed)
        row["arms"][arm] = {"n_train": len(images), **scores(model, test_parts)}
        row["segmenter_steps"][arm] = steps
        if log:
            log(f"  seed {seed} {fraction:.0%} {arm}: n={len(images)}, " + ", ".join(
                f"{p} Dice {row['arms'][arm][p]['mean_dice']:.3f}" for p in test_parts))
    return row


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


def experiment(train, test, *, seeds=(0, 1, 2), fractions=(0.05, 0.2), held_out: int = 0,
               settings: Settings = Settings(), log: Callable[[str], None] | None = print,
               generators: dict | None = None) -> dict:
    """The whole experiment on ``brain-mri-seg`` train / test pairs: a JSON-ready dict with the
    settings, the per-seed rows, their :func:`aggregate` summary, wall time and machine.

    ``generators``: {(fraction, seed): generator} already trained with these ``settings`` on
    that small real set (:func:`train_generator`), reused instead of trained again.
    """
    if not seeds or not fractions:
        raise ValueError(f"seeds={seeds!r} and fractions={fractions!r} must each hold at least one value.")
    start, generators = time.time(), generators or {}
    seen, test_parts = split_levels(train, test, held_out)
    per_seed = [{str(f): run_fraction(seen, test_parts, f, seed, settings, log, generators.get((f, seed)))
                 for f in fractions} for seed in seeds]
    return {"args": {"size": int(train.image_size), "seeds": [int(s) for s in seeds],
                     "fractions": [float(f) for f in fractions], "held_out": int(held_out), **settings.to_dict()},
            "held_out_level": brain.CLASS_NAMES[held_out],
            "n_seen_train": len(seen), "n_test": {p: len(s) for p, s in test_parts.items()},
            "deform": deform.DeformSettings().to_dict(), "summary": aggregate(per_seed), "per_seed": per_seed,
            "seconds": round(time.time() - start, 1),
            "machine": {"node": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform()}}


def merge(results: list[dict]) -> dict:
    """One result from runs of the same experiment with different seeds (one process per seed,
    so that a crash loses one seed, not all): per-seed rows in the given order, the summary
    recomputed, wall times added.

    The runs must agree on everything but their seeds (settings, sizes, real-set sizes,
    held-out level and test set), and no seed may appear twice.
    """
    if not results:
        raise ValueError("merge: no results given.")
    first = results[0]
    same = {k: v for k, v in first["args"].items() if k != "seeds"}
    seeds: list[int] = []
    for i, r in enumerate(results):
        differs = sorted(k for k in set(same) | set(r["args"]) if k != "seeds" and r["args"].get(k) != same.get(k))
        for key in ("held_out_level", "n_seen_train", "n_test", "deform"):
            if r.get(key) != first.get(key):
                differs.append(key)
        if differs:
            raise ValueError(f"merge: result {i} differs from result 0 in {', '.join(differs)}; only runs of the "
                             "same experiment with other seeds can be merged (run them with the same options).")
        if len(r["per_seed"]) != len(r["args"]["seeds"]):
            raise ValueError(f"merge: result {i} has {len(r['per_seed'])} per-seed rows for seeds {r['args']['seeds']}.")
        repeated = sorted(set(seeds) & set(r["args"]["seeds"]))
        if repeated:
            raise ValueError(f"merge: seed(s) {repeated} appear in more than one result; merge each seed once.")
        seeds += [int(s) for s in r["args"]["seeds"]]
    per_seed = [row for r in results for row in r["per_seed"]]
    return {**first, "args": {**first["args"], "seeds": seeds}, "summary": aggregate(per_seed),
            "per_seed": per_seed, "seconds": round(sum(float(r["seconds"]) for r in results), 1)}


def paired_differences(saved: dict, fraction: str, part: str = PARTS[0]) -> dict[str, dict]:
    """Mean Dice differences between arms, seed by seed (same seed = same small real set, same
    deformations): {"(c) - (a)": {"values", "mean", "std"}, …}. A difference whose mean is not
    clearly larger than its spread over seeds is not a finding."""
    out = {}
    for left, right in ((2, 0), (2, 3), (3, 0), (1, 0)):
        values = [s[fraction]["arms"][ARMS[left]][part]["mean_dice"] - s[fraction]["arms"][ARMS[right]][part]["mean_dice"]
                  for s in saved["per_seed"]]
        v = np.array(values, np.float64)
        out[f"{ARMS[left][:3]} - {ARMS[right][:3]}"] = {
            "values": [float(x) for x in v], "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if len(v) > 1 else None}
    return out


def fmt(cell: dict | None) -> str:
    """'mean ± std' of an :func:`aggregate` cell ('—' when empty)."""
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
