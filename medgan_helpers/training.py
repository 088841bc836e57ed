"""One call from data to a trained, saved run: ``train(imageset, **knobs)``.

``train`` follows the kit's data flow and nothing else::

    ImageSet -> data.to_tf_dataset (uint8 cache, streams large sets)
             -> models.build_generator / build_discriminator
             -> gan.GAN.fit (with watch.SampleGrid, TrainingHealth, NaNGuard,
                BackupAndRestore)
             -> runs.RunFolder (config.json, weights, history, health, sample grids)

and returns a :class:`TrainResult` (the GAN, its run folder, its health monitor
and NaN guard, the history, the accelerator setup it used). The settings are one
``recipe.GANConfig`` (``recipe.gan_config(quick=..., **knobs)``), which the GAN
keeps and the run folder saves; ``default_config(quick=True)`` gives the
quick-mode knobs as a dict (the notebooks ask for them when ``MEDGAN_QUICK=1``).

Also here: :func:`quick_subset` (the one rule for picking a smaller training
set) and :func:`load_latest_or_pretrained` (the newest run, else the shipped
generator, else a quick training run).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from medgan_helpers import callbacks as watch
from medgan_helpers import config, data, recipe, runs
from medgan_helpers.gan import GAN  # noqa: F401  (the public name ``training.GAN`` of the design notes)


def default_config(quick: bool = False, preset: str = "full") -> dict[str, Any]:
    """The knobs ``train`` uses, as a dict: the GAN recipe with a preset's values (``recipe.GAN_PRESETS``).

    ``"full"`` (60 epochs = 4 500 steps on brain-mri 64 px) trained in 16 min on a
    busy 2-core CPU; ``"lab"`` (10 epochs) is notebook 04's stored, timed run.
    ``quick=True`` (the tests) trains a tiny model on 512 images for 3 epochs.
    """
    return recipe.knobs(quick=quick, preset=preset)


def quick_subset(imageset: data.ImageSet, max_images: int | None) -> data.ImageSet:
    """At most ``max_images`` evenly spaced images (every k-th): the same subset every time.

    Sources store their images grouped by class and position, so even spacing
    keeps every class and the whole range of positions.
    """
    if not max_images or len(imageset) <= max_images:
        return imageset
    step = len(imageset) / float(max_images)
    return imageset.subset(np.floor(np.arange(max_images) * step).astype(np.int64))


@dataclass
class TrainResult:
    """What ``train`` made: the GAN, where it was saved, and how training went."""

    gan: GAN
    run: runs.RunFolder
    health: watch.TrainingHealth
    nan_guard: watch.NaNGuard
    sample_grid: watch.SampleGrid
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    accel: Any = None  #: the ``accel.AccelSetup`` the run used (also in config.json as "accelerator")

    @property
    def config(self) -> recipe.GANConfig:
        """Every setting of the run (``gan.config``)."""
        return self.gan.config

    @property
    def run_dir(self) -> Path:
        return self.run.path

    def __repr__(self) -> str:
        alarms = (self.health.records or [{}])[-1].get("alarms") or []
        return (f"TrainResult(run={self.run.path.name!r}, epochs={len(self.history.get('d_loss', []))}, "
                f"{self.seconds:.0f} s, alarms={len(alarms)}"
                + (f", {self.accel.device}, {self.accel.policy}" if self.accel is not None else "") + ")")


def is_chief(strategy: Any = None) -> bool:
    """False only on a worker of a multi-worker strategy that is not its chief.

    The chief is the ``"chief"`` task of ``TF_CONFIG``, else worker 0; a strategy
    without a cluster (one process: default, ``MirroredStrategy``) is its own chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return True
    return (task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


def _as_imageset(images: Any) -> data.ImageSet:
    return images if isinstance(images, data.ImageSet) else data.from_arrays(images)


def train(
    imageset: Any,
    run_dir: str | Path | None = None,
    *,
    config: recipe.GANConfig | None = None,
    callbacks: list | None = None,
    verbose: int | str = "auto",
    resume: bool = True,
    display: bool | str = "auto",
    accel_setup=None,
    **knobs: Any,
) -> TrainResult:
    """Train a GAN on an ``ImageSet`` (or an N×H×W×C array in [-1, 1]) and save the run.

    The settings are ``config`` (a ``recipe.GANConfig``; default the recipe) with
    ``knobs`` changed (``recipe.gan_config``'s names; unknown ones raise an error).
    The run goes to ``run_dir`` or a new ``<artifacts>/runs/<dataset>-<size>px-<time>-<id>/``,
    with sample grids per epoch, ``health.json`` and ``history.json``. If an
    earlier call with the same data and knobs was interrupted (kernel died,
    Colab disconnected), calling ``train`` again continues that run from its last
    epoch (``resume=False`` starts afresh); a run that another live process is
    training is never joined. The images stream from their uint8 pixels through
    ``data.to_tf_dataset``: a large (memory-mapped) set is never converted to
    float32 as a whole.

    ``accel_setup``: the ``accel.AccelSetup`` to train with (default
    ``accel.configure()``, which detects the machine once per session). Its
    strategy and precision policy build the models (``setup.building()``: Keras'
    global policy is left as it was) and its XLA choice compiles the step; the
    setup used is reported as ``result.accel`` and under "accelerator" in the
    run's config.json. Under a ``MultiWorkerMirroredStrategy`` only the chief
    (:func:`is_chief`) writes the run; every other worker trains the same steps in
    sync but writes its run into a temporary folder that is deleted before
    ``train`` returns (so its ``result.run`` no longer exists).
    """
    from medgan_helpers import accel

    cfg = recipe.gan_config(**knobs) if config is None else _with_knobs(config, knobs)
    chosen_spe = "steps_per_execution" in knobs
    _steps_per_execution(cfg, chosen=chosen_spe)  # a bad value fails before any work
    imageset = quick_subset(_as_imageset(imageset), cfg.max_images)
    if len(imageset) < cfg.batch_size:
        raise ValueError(f"only {len(imageset)} images but batch_size={cfg.batch_size}: lower batch_size.")
    labelled = imageset.labels is not None and np.ndim(imageset.labels) == 1
    cfg = cfg.for_data(imageset.image_size, imageset.channels, imageset.class_names if labelled else ())
    setup = accel_setup if accel_setup is not None else accel.configure(verbose=False)
    spe = _steps_per_execution(cfg, chosen=chosen_spe, strategy=setup.strategy)
    if not is_chief(setup.strategy):  # TensorFlow's multi-worker pattern: only the chief writes
        import shutil
        import tempfile

        scratch = runs.RunFolder(tempfile.mkdtemp(prefix="medgan-worker-"))
        try:
            return _train_into(scratch, imageset, cfg, callbacks, verbose, resume, display, setup, spe)
        finally:
            shutil.rmtree(scratch.path, ignore_errors=True)

    run = runs.RunFolder(run_dir) if run_dir is not None else None
    if run is None and resume:
        run = runs.find_resumable(imageset.name, cfg.image_size, cfg.knobs())
        if run is not None:
            print(f"Resuming the interrupted run {run.path.name}")
    if run is None:
        run = runs.RunFolder.new(imageset.name, cfg.image_size)
    run.path.mkdir(parents=True, exist_ok=True)
    run.lock()
    try:
        return _train_into(run, imageset, cfg, callbacks, verbose, resume, display, setup, spe)
    finally:
        run.unlock()


def _with_knobs(config: recipe.GANConfig, knobs: dict[str, Any]) -> recipe.GANConfig:
    """``config`` with ``knobs`` changed (only knob names: the data decides the rest)."""
    recipe.gan_config(**knobs)  # names checked, with the recipe's error message
    return config.replace(**knobs)


def _train_into(run, imageset, cfg: recipe.GANConfig, extra_callbacks, verbose, resume, display,
                setup, steps_per_execution: int) -> TrainResult:
    if not resume and run.backup_dir.exists():
        import shutil

        shutil.rmtree(run.backup_dir)
    steps_per_epoch = cfg.steps_per_epoch or len(imageset) // cfg.batch_size
    run.write_config(dataset=imageset.name, image_size=cfg.image_size, channels=cfg.channels, kind="run",
                     status="running", knobs=cfg.knobs(), num_images=len(imageset),
                     steps_per_epoch=steps_per_epoch, accelerator=setup.as_dict(),
                     steps_per_execution=steps_per_execution)  # the one used (see _steps_per_execution)

    config.seed_everything(cfg.seed)
    with setup.building():
        gan = GAN.from_config(cfg)  # G and D built from the config's settings (models.BUILDERS)
        gan.compile(*recipe.optimizers(cfg), loss=cfg.loss, jit_compile=setup.xla,
                    steps_per_execution=steps_per_execution)

    dataset = data.to_tf_dataset(imageset, batch_size=cfg.batch_size, seed=cfg.seed,
                                 include_labels=cfg.num_classes is not None)
    if cfg.steps_per_epoch:
        dataset = dataset.repeat()
    health = watch.TrainingHealth(real=imageset, loss=cfg.loss, log_path=run.path / "health.json",
                                  verbose=verbose != 0)
    guard = watch.NaNGuard()
    grid = watch.SampleGrid(run.samples_dir, n=4 * (cfg.num_classes or 4), every=cfg.sample_every,
                            display=display)
    all_callbacks = [
        keras.callbacks.BackupAndRestore(str(run.backup_dir), double_checkpoint=True),
        keras.callbacks.CSVLogger(str(run.path / "history.csv"), append=True),
        grid, health, guard, *(extra_callbacks or []),
    ]
    start = time.time()
    gan.fit(dataset, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
            callbacks=all_callbacks, verbose=verbose, shuffle=False)
    seconds = round(time.time() - start, 1)
    history = _read_csv_history(run.path / "history.csv")
    facts = {"seconds": seconds, "steps": int(gan.g_optimizer.iterations.numpy()), "device": setup.device}
    if guard.triggered:
        facts["nan_guard"] = guard.message
    runs.save_gan(gan, run, history=history, **facts)
    return TrainResult(gan, run, health, guard, grid, history, seconds, setup)


def _steps_per_execution(cfg: recipe.GANConfig, chosen: bool, strategy=None) -> int:
    """How many steps Keras runs per call into TensorFlow for ``cfg`` (``GAN.compile``'s ``steps_per_execution``).

    Without ``steps_per_epoch`` each epoch is one pass over the images and its
    last call is simply shorter. With ``steps_per_epoch`` set (a repeated
    dataset) an epoch that is not a multiple would overrun by the remainder: a
    value the caller chose is then refused, the recipe's default is lowered to
    the largest divisor of ``steps_per_epoch`` (the same steps, fewer per call).
    Under a ``MultiWorkerMirroredStrategy`` it is 1: Keras 3.15 / TensorFlow 2.21
    fail there with more ("You must feed a value for placeholder tensor" in
    ``multi_step_on_iterator``; tests/test_multiworker.py).
    """
    spe, steps_per_epoch = cfg.steps_per_execution, cfg.steps_per_epoch
    if not isinstance(spe, int) or isinstance(spe, bool) or spe < 1:
        raise ValueError(f"steps_per_execution={spe!r} must be an integer >= 1 (1 = Keras' default).")
    if steps_per_epoch and steps_per_epoch % spe:
        if chosen:
            raise ValueError(
                f"steps_per_epoch={steps_per_epoch} is not a multiple of steps_per_execution={spe}: "
                "the last call of each epoch would train extra steps. Choose a steps_per_epoch that is a multiple "
                "of it, or steps_per_execution=1.")
        spe = max(d for d in range(1, spe + 1) if steps_per_epoch % d == 0)
    if strategy is not None:
        import tensorflow as tf

        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):  # the experimental one subclasses it
            return 1
    return spe


def _read_csv_history(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    rows = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows[int(row["epoch"])] = row  # a resumed epoch replaces its first attempt
    history: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key == "epoch" or key.startswith("val_"):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            history.setdefault(key, []).append(number)
    return history


def load_latest_or_pretrained(
    dataset: str = "brain-mri", image_size: int = 64, quick: bool = False
) -> tuple[Any, str]:
    """A sampler for ``dataset`` at ``image_size`` and a sentence saying where it came from.

    Order: the newest finished run in ``<artifacts>/runs``; else the shipped
    pretrained generator in ``data/pretrained/<dataset>-<size>``; else a training
    run with the recipe (``quick=True``: the small quick-mode one, a couple of
    minutes on CPU).
    """
    run = runs.latest_run(dataset=dataset, image_size=image_size)
    if run is not None:
        return runs.load_generator(run.path), f"Loaded your newest run: runs/{run.path.name}"
    pretrained = config.pretrained_dir() / f"{dataset}-{image_size}"
    if (pretrained / runs.CONFIG).is_file():
        return runs.load_generator(pretrained), f"Loaded the shipped pretrained generator: data/pretrained/{pretrained.name}"
    images = data.load_dataset(dataset, image_size=image_size, split="train")
    result = train(images, verbose=0, **default_config(quick=quick))
    return result.gan, f"No run or pretrained model found: trained one into runs/{result.run.path.name}"
