"""Train a GAN from the command line, on one machine or several: ``python -m medgan_helpers.train_cli``.

Usage (``medgan-train`` is the same command, installed with the kit)::

    python -m medgan_helpers.train_cli --dataset brain-mri --image-size 64
    python -m medgan_helpers.train_cli --dataset pneumoniamnist --image-size 64 --epochs 30 --d-lr 4e-4
    python -m medgan_helpers.train_cli --dataset folder:/path/to/scans --quick

It loads the training split of ``--dataset`` (``brain-mri``, a MedMNIST 2D flag
or ``folder:PATH``) and calls ``training.train``, which writes a run folder
``<artifacts>/runs/<dataset>-<size>px-<time>-<id>/``; the last line names it
(``runs/<name>``: never your data's path). Every knob of ``recipe.GANConfig`` is an
option (``epochs`` -> ``--epochs``, ``d_lr`` -> ``--d-lr``, ``spectral_norm`` ->
``--spectral-norm`` / ``--no-spectral-norm``; ``none`` where a knob takes None);
``--quick`` starts from the quick-mode values (``recipe.GAN_QUICK``) instead.

**Several machines.** When the ``TF_CONFIG`` environment variable names more than
one task, the trainer uses ``tf.distribute.MultiWorkerMirroredStrategy``: start
the same command on every machine, each with the same ``cluster`` and its own
``task``::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}' medgan-train --dataset brain-mri

Every worker loads the same data and takes the same number of steps; each step
splits the global batch (``--batch-size``) over all replicas and averages the
gradients. Only the chief (worker 0, or the ``chief`` task) writes the run
folder; the others write to a temporary folder that they delete. A multi-worker
run always starts afresh (workers cannot agree on an interrupted run to resume).
Without ``TF_CONFIG``, ``accel.configure()`` chooses (``MirroredStrategy`` over
several GPUs of one machine).

Each worker ends with one line that gives its optimizer steps and a fingerprint
of its trainable weights: in a synchronous run they are the same on every worker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from medgan_helpers import recipe

PROG = "python -m medgan_helpers.train_cli"
_TRI_STATE = {"auto": "auto", "on": True, "off": False}


def _option(knob: str) -> str:
    return "--" + knob.replace("_", "-")


def _none_or(cast):
    def parse(text: str):
        return None if text.strip().lower() in ("none", "null") else cast(text)

    parse.__name__ = cast.__name__  # argparse names the type in its "invalid value" message
    return parse


def _number_or_text(text: str):
    """The value of a knob whose default is None: None, an int, a float, else the text."""
    if text.strip().lower() in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command line: the dataset, ``--quick``, the device choices, and one option per recipe knob."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog="Several machines: set TF_CONFIG on each (see the module's docstring or the README).",
    )
    parser.add_argument("--dataset", default="brain-mri",
                        help="brain-mri (default), a MedMNIST 2D flag (e.g. pneumoniamnist) or folder:PATH")
    parser.add_argument("--image-size", type=int, default=64, help="image height = width (default 64)")
    parser.add_argument("--quick", action="store_true",
                        help="start from the quick-mode knobs (" +
                             ", ".join(f"{k}={v}" for k, v in recipe.GAN_QUICK.items()) + ")")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="start afresh instead of continuing an interrupted run of the same data and knobs")
    parser.add_argument("--mixed-precision", choices=sorted(_TRI_STATE), default="auto",
                        help="mixed float16 (default auto: on GPUs with compute capability >= 7; "
                             "off under a multi-worker strategy unless 'on')")
    parser.add_argument("--xla", choices=sorted(_TRI_STATE), default="auto",
                        help="XLA compilation (default auto: on one GPU; always off with several replicas)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                        help="Keras' progress output: 0 silent, 1 progress bar, 2 one line per epoch (default)")
    knobs = parser.add_argument_group(
        "training knobs", "every knob of recipe.GANConfig; the default is the recipe's (or its quick value)")
    for knob, default in recipe.GAN_DEFAULTS.items():
        quick = f", quick {recipe.GAN_QUICK[knob]}" if knob in recipe.GAN_QUICK else ""
        help_text = f"default {default}{quick}"
        if isinstance(default, bool):
            knobs.add_argument(_option(knob), dest=knob, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
            continue
        cast = _number_or_text if default is None else _none_or(type(default))
        knobs.add_argument(_option(knob), dest=knob, type=cast, default=argparse.SUPPRESS,
                           metavar=knob.upper(), help=help_text)
    return parser


def cluster_size(tf_config: str | None = None) -> int:
    """How many tasks ``TF_CONFIG`` (default: the environment's) names; 0 without one.

    Raises ``ValueError`` for a ``TF_CONFIG`` this trainer cannot use (not JSON,
    parameter servers, no ``task``).
    """
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text.strip():
        return 0
    try:
        found = json.loads(text)
        cluster = found.get("cluster") or {}
    except (ValueError, AttributeError):
        raise ValueError(f"TF_CONFIG is not a JSON object with a 'cluster': {text[:200]!r}.") from None
    other = sorted(set(cluster) - {"worker", "chief"})
    if other:
        raise ValueError(
            f"TF_CONFIG names {other} tasks; this trainer trains synchronously with "
            "MultiWorkerMirroredStrategy, whose cluster has only 'worker' (and optionally one 'chief') tasks.")
    size = sum(len(cluster.get(kind) or ()) for kind in ("worker", "chief"))
    if size > 1 and not isinstance(found.get("task"), dict):
        raise ValueError("TF_CONFIG names a cluster but no 'task' ({'type': 'worker', 'index': i}) for this process.")
    return size


def multi_worker_strategy():
    """A ``tf.distribute.MultiWorkerMirroredStrategy`` (from ``TF_CONFIG``) that Keras 3's ``fit`` can use.

    Keras 3's ``fit`` (3.15.1 here; keras-team/keras#20585) hands
    ``strategy.reduce`` what a multi-worker strategy does not take: the first
    batch as a nest ``(images, labels)``, and every step's scalar metrics with
    ``axis=0``. This subclass reduces each value of a nest on its own, across the
    replicas of every worker, and reduces a scalar across replicas only (it has
    no batch axis). Everything else is TensorFlow's strategy.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis=None):
            def reduce_one(one):
                local = self.experimental_local_results(one)[0]
                rank = tf.TensorShape(local.shape).rank if hasattr(local, "shape") else 0
                return super(MultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, one, axis=None if rank == 0 else axis)

            return tf.nest.map_structure(reduce_one, value)

    return MultiWorkerMirroredStrategy()


def weights_fingerprint(gan) -> str:
    """A short SHA-256 of the trainable weights of G, D and the EMA generator.

    Workers that train in sync hold the same ones (the gradients are all-reduced).
    BatchNormalization's moving statistics are left out: Keras 3 keeps them per
    replica (each from its own part of the batch), so they differ between workers.
    """
    digest = hashlib.sha256()
    for model in (gan.generator, gan.discriminator, gan.ema_generator):
        for weight in (model.trainable_weights if model is not None else ()):
            digest.update(weight.numpy().tobytes())
    return digest.hexdigest()[:16]


def _check_dataset(parser: argparse.ArgumentParser, source: str) -> None:
    from medgan_helpers import data

    if source == data.BRAIN_MRI or source.lower() in data.medmnist.FLAGS or source.startswith("folder:"):
        return
    parser.error(f"--dataset {source!r}: this trainer takes brain-mri, a MedMNIST 2D flag "
                 f"({', '.join(data.medmnist.FLAGS[:3])}, …) or folder:PATH.")


def run_cli(argv: list[str]) -> dict[str, Any]:
    """Train as the command line ``argv`` says; returns what this worker's last line says, as a dict."""
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {knob: getattr(args, knob) for knob in recipe.GAN_DEFAULTS if hasattr(args, knob)}
    _check_dataset(parser, args.dataset)
    try:
        workers = cluster_size()
    except ValueError as err:
        parser.error(str(err))

    # A multi-worker strategy must exist before TensorFlow runs anything (it sets up the collectives).
    strategy = multi_worker_strategy() if workers > 1 else None

    from medgan_helpers import accel, data, losses, training

    try:
        cfg = recipe.gan_config(quick=args.quick, **overrides)
    except ValueError as err:
        parser.error(str(err))
    if cfg.loss not in losses.LOSSES:
        parser.error(f"--loss {cfg.loss!r}: use one of {', '.join(losses.LOSSES)}.")
    setup = accel.configure(mixed_precision=_TRI_STATE[args.mixed_precision], xla=_TRI_STATE[args.xla],
                            strategy=strategy, force=True)
    try:
        images = data.load_dataset(args.dataset, image_size=args.image_size, split="train")
    except (data.DataError, FileNotFoundError, ValueError) as err:
        parser.exit(2, f"{PROG}: error: --dataset {args.dataset!r}: {err}\n")
    resume = args.resume
    if strategy is not None:
        resolver = strategy.cluster_resolver
        replicas = strategy.num_replicas_in_sync
        if cfg.batch_size % replicas:
            parser.error(f"--batch-size {cfg.batch_size} is the global batch, split over {replicas} "
                         f"replicas: use a multiple of {replicas}.")
        if cfg.steps_per_epoch is None:  # the same, known number of steps on every worker
            cfg = cfg.replace(steps_per_epoch=len(training.quick_subset(images, cfg.max_images)) // cfg.batch_size)
        resume = False
        print(f"Task {resolver.task_type} {resolver.task_id} of {workers} "
              f"({'the chief' if training.is_chief(strategy) else 'not the chief'}): {replicas} replicas, "
              f"global batch {cfg.batch_size}, {cfg.steps_per_epoch} steps per epoch", flush=True)

    result = training.train(images, verbose=args.verbose, resume=resume, display=False,
                            accel_setup=setup, config=cfg)
    summary = {
        "chief": training.is_chief(setup.strategy),
        "workers": max(workers, 1),
        "steps": int(result.gan.g_optimizer.iterations.numpy()),
        "fingerprint": weights_fingerprint(result.gan),
        "seconds": result.seconds,
        "run": f"runs/{result.run.path.name}" if training.is_chief(setup.strategy) else None,
    }
    where = (f"the run is in {summary['run']} (under the artifacts folder)" if summary["chief"] else
             "the chief wrote the run; this worker's temporary files are deleted")
    print(f"Trained {summary['steps']} steps in {summary['seconds']:.0f} s; weights fingerprint "
          f"{summary['fingerprint']}; {where}", flush=True)
    if strategy is not None:
        _barrier(strategy)
    return summary


def _barrier(strategy) -> None:
    """Wait until every worker got here.

    The chief hosts the cluster's coordination service: if it left while another
    worker was still saving or deleting its temporary folder, that worker could
    lose its connection half-way.
    """
    import tensorflow as tf

    @tf.function
    def all_here():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", 1.0))

    all_here()


def main(argv: list[str] | None = None) -> int:
    """The console script ``medgan-train``: train, print where the run went, return 0."""
    run_cli(sys.argv[1:] if argv is None else argv)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
