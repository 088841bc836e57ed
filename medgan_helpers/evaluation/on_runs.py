"""Evaluation of saved runs: where the report goes, ``evaluate_run``, and the command line.

``python -m medgan_helpers.evaluation [RUN_DIR] [--quick] [--no-utility] [--no-realism]`` scores a
run folder (default: the newest run, else the shipped pretrained generator) and
writes ``evaluation.json`` and ``evaluation.png`` — into the run folder, or into
``artifacts/evaluations/<name>/`` for anything under ``data/`` (never into a data
folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers import config, fileio, runs, sampling
from medgan_helpers.data.handle import DatasetHandle
from medgan_helpers.evaluation.options import EvalOptions, resolve
from medgan_helpers.evaluation.report import EvaluationReport
from medgan_helpers.evaluation.scores import balanced_labels
from medgan_helpers.evaluation.suite import evaluate


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _run_path(run_dir_or_sampler: Any) -> Path | None:
    if isinstance(run_dir_or_sampler, (str, Path, runs.RunFolder)):
        return Path(run_dir_or_sampler)
    maybe = (getattr(run_dir_or_sampler, "info", None) or {}).get("path")
    return Path(maybe) if maybe else None


def output_dir_for(run_dir_or_sampler: Any, dataset: str | None = None) -> Path:
    """Where the report of a run (or sampler) belongs.

    A run folder (made by ``training.train`` / ``runs.save_gan``) → that folder.
    The shipped pretrained model (``data/pretrained/…``), anything under ``data/``
    and a bare sampler → ``artifacts/evaluations/pretrained-<name>/``, ``…/<name>/``
    or ``…/<dataset>-<size>px-sampler/``: the kit never writes into a data folder.
    """
    run_dir = _run_path(run_dir_or_sampler)
    evaluations = config.artifacts_dir() / "evaluations"
    if run_dir is None:
        size = getattr(run_dir_or_sampler, "image_size", "?")
        return evaluations / f"{fileio.slug(dataset or 'dataset')}-{size}px-sampler"
    if _is_inside(run_dir, config.pretrained_dir()):
        return evaluations / f"pretrained-{run_dir.name}"
    if _is_inside(run_dir, config.cache_dir()) or (config.REPO_ROOT and _is_inside(run_dir, config.REPO_ROOT / "data")):
        return evaluations / run_dir.name
    return run_dir


def evaluate_run(
    run_dir_or_sampler: Any,
    options: EvalOptions | None = None,
    *,
    dataset: str | DatasetHandle | None = None,
    image_size: int | None = None,
    real_train: Any = None,
    real_test: Any = None,
    out_dir: str | Path | None = None,
    **overrides: Any,
) -> EvaluationReport:
    """Load a run (or take a sampler), generate, evaluate and write the report files.

    ``run_dir_or_sampler`` is a run directory (loaded with ``runs.load_generator``),
    the shipped pretrained folder, or any object with the ``sampling.Sampler``
    protocol. Writes ``evaluation.json`` and ``evaluation.png`` (see
    :func:`output_dir_for`); their paths are in ``report.results["files"]``.
    ``options`` (an :class:`EvalOptions`; ``n_samples`` images are generated with
    ``seed``) and single option fields as keywords (``n_samples=200``) are used as
    in :func:`evaluate`. ``dataset``: a name (default: the run's) or a loaded set's
    handle (``imageset.handle``, for your own folder: the kit never stores its
    path). ``real_train`` / ``real_test``: the real splits, loaded by you.
    """
    from medgan_helpers import data

    opt = resolve(options, overrides, "evaluate_run()")
    run_dir = _run_path(run_dir_or_sampler)
    cfg: dict = {}
    if isinstance(run_dir_or_sampler, (str, Path, runs.RunFolder)):
        sampler = runs.load_generator(run_dir)
    else:
        sampler = run_dir_or_sampler
        if not isinstance(sampler, sampling.Sampler):
            raise TypeError(
                "evaluate_run needs a run directory or a sampler (gan.GAN, sampling.GeneratorModel); "
                f"{type(sampler).__name__} does not have the sampler protocol (sampling.Sampler)."
            )
    if run_dir is not None:
        try:
            cfg = runs.RunFolder(run_dir).config
        except runs.DamagedRunError:
            cfg = {}
    dataset = dataset or cfg.get("dataset") or "brain-mri"
    image_size = image_size or int(sampler.image_size)
    if real_train is None:
        real_train = data.load_dataset(dataset, image_size=image_size, split="train")
    if real_test is None:
        real_test = data.load_dataset(dataset, image_size=image_size, split="test")

    labels = balanced_labels(opt.n_samples, sampler.num_classes) if sampler.num_classes else None
    fake = np.asarray(sampler.generate(opt.n_samples, labels=labels, seed=opt.seed))
    name = dataset.name if isinstance(dataset, DatasetHandle) else dataset
    report = evaluate(real_train, real_test, fake, labels, opt, dataset_name=name)

    # a name, never a path: absolute paths can hold user names and record numbers
    report.results["meta"]["source"] = run_dir.name if run_dir is not None else type(sampler).__name__
    report.results["meta"]["n_samples"] = opt.n_samples
    report.save(Path(out_dir) if out_dir is not None else output_dir_for(run_dir or sampler, name))
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m medgan_helpers.evaluation RUN_DIR [--dataset …] [--n-samples …]``."""
    parser = argparse.ArgumentParser(
        prog="python -m medgan_helpers.evaluation",
        description="Evaluate a saved GAN run; writes evaluation.json and evaluation.png.",
    )
    parser.add_argument("run_dir", nargs="?", default=None,
                        help="run folder (default: the newest run in artifacts/, else the pretrained model)")
    parser.add_argument("--dataset", default=None, help="dataset name (default: from the run's config.json)")
    parser.add_argument("--n-samples", type=int, default=None, help="generated images to score")
    parser.add_argument("--quick", action="store_true", help="small sample sizes (a quick look)")
    parser.add_argument("--no-utility", action="store_true", help="skip the TSTR/TRTR classifiers")
    parser.add_argument("--no-realism", action="store_true",
                        help="skip the realism group (two-sample CNN, spectrum, intensity)")
    parser.add_argument("--out", default=None, help="write the report here instead of the run folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    target: Any = args.run_dir
    if target is None:
        target = runs.latest_run()
        if target is None:
            pretrained = config.pretrained_dir() / "brain-mri-64"
            if not pretrained.is_dir():
                parser.error("no run in artifacts/ and no pretrained model: pass RUN_DIR")
            target = pretrained
    switches: dict[str, Any] = {"utility": False} if args.no_utility else {}
    if args.no_realism:
        switches["realism"] = False
    if args.n_samples is not None:
        switches["n_samples"] = args.n_samples
    try:
        options = EvalOptions.quick(args.quick, seed=args.seed, **switches)
        report = evaluate_run(target, dataset=args.dataset, options=options, out_dir=args.out)
    except (ValueError, FileNotFoundError, TypeError, runs.DamagedRunError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.table())
    print(f"\nWrote {report.results['files']['json']}\n  and {report.results['files']['png']}")
    return 0
