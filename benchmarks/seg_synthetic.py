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

The experiment is ``medgan_helpers.seg_experiment`` (notebook 11 runs a small version of it);
this script is its command line. Prints one table (mean ± std over seeds) and writes JSON to
``artifacts/benchmarks/seg_synthetic.json``::

    .venv/bin/python benchmarks/seg_synthetic.py                    # 3 seeds, 5 % and 20 %
    .venv/bin/python benchmarks/seg_synthetic.py --seeds 0 --gen-epochs 2 --seg-steps 100   # a quick look
    .venv/bin/python benchmarks/seg_synthetic.py --show artifacts/benchmarks/seg_synthetic.json
    # one process per seed (a crash loses one seed), then one result:
    .venv/bin/python benchmarks/seg_synthetic.py --seeds 1 --out seed1.json   # … and so on
    .venv/bin/python benchmarks/seg_synthetic.py --merge seed0.json seed1.json seed2.json --out seg_synthetic.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgan_helpers import config, data, fileio, seg_experiment  # noqa: E402

# The experiment itself lives in the library (notebook 11 runs a small version of it).
table = seg_experiment.table


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
    parser.add_argument("--gen-lr", type=float, default=None, help="G's learning rate (default: recipe, 2e-4)")
    parser.add_argument("--seg-steps", type=int, default=600, help="segmenter updates per arm (about)")
    parser.add_argument("--seg-batch-size", type=int, default=16)
    parser.add_argument("--seg-filters", type=int, default=16, help="width of the segmenter's first block")
    parser.add_argument("--out", default=None, help="JSON path (default artifacts/benchmarks/seg_synthetic.json)")
    parser.add_argument("--show", default=None, metavar="JSON", help="only print the table of a saved result")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="merge saved runs of other seeds (same options) into --out, and print the table")
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
    out = Path(args.out) if args.out else config.artifacts_dir() / "benchmarks" / "seg_synthetic.json"
    if args.merge:
        saved = seg_experiment.merge([json.loads(Path(p).read_text(encoding="utf-8")) for p in args.merge])
        saved.pop("table", None)
        text = table(saved)
        print(text)
        fileio.write_json(out, {**saved, "table": text})
        print(f"wrote {out}")
        return 0
    settings = seg_experiment.Settings(**{k: getattr(args, k) for k in seg_experiment.Settings().to_dict()})
    train = data.load_dataset("brain-mri-seg", args.size, "train")
    test = data.load_dataset("brain-mri-seg", args.size, "test")
    saved = seg_experiment.experiment(train, test, seeds=args.seeds, fractions=args.fractions,
                                      held_out=args.held_out, settings=settings,
                                      log=lambda line: print(line, flush=True))
    text = table(saved)
    print(text)
    fileio.write_json(out, {**saved, "table": text})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
