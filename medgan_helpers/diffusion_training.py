"""One call from data to a trained, saved diffusion run: ``train(imageset, **knobs)``.

The same flow as ``training.train`` for the GAN, with the diffusion family's parts::

    ImageSet -> data.to_tf_dataset
             -> diffusion.Diffusion (denoiser from diffusion_models.build_denoiser)
             -> Diffusion.fit (with callbacks.SampleGrid, DiffusionHealth, NaNGuard,
                BackupAndRestore, CSVLogger)
             -> runs.RunFolder under <artifacts>/diffusion/ (config.json, EMA weights,
                history, health file, sample grids)

An interrupted call resumes its run from the last epoch when called again with
the same data and knobs, and a run another live process trains is never joined
(the run lock), exactly as for the GAN. The runs live apart from the GAN runs
(``diffusion.runs_root()``): notebooks 04-07 load the newest *GAN* run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from medgan_helpers import callbacks as watch
from medgan_helpers import config, data, diffusion, recipe, runs, training


class DiffusionHealth(watch.TrainingHealth):
    """The health file of a diffusion run: ``TrainingHealth``'s measures of the samples
    (diversity per class against the real images, fine detail), the denoiser's loss and
    gradient norm in place of D's numbers, and remedies that fit a diffusion model."""

    COLLAPSE_REMEDIES = ("more epochs, or guidance closer to 1 (guidance > 1 trades variety for class fidelity)",
                         "guidance closer to 1, more epochs, or a lower label_dropout")
    _GAN_ONLY = ("d_loss", "d_real_acc", "d_fake_acc", "d_grad_norm", "g_grad_norm", "d_at_chance")

    def __init__(self, real: Any = None, steps: int | None = 10, **kwargs: Any):
        super().__init__(real, loss="diffusion", **kwargs)  # no D: no "D at chance" level
        # A diffusion sample costs `steps` passes of the U-Net, not one as for a GAN. The health
        # file's samples are screened, not shown: `steps` DDIM steps (None: the model's own), and
        # one batch of n_samples per class serves every measure (TrainingHealth would draw 1 +
        # classes + 1 batches at the model's sampling steps).
        if steps is not None and int(steps) < 1:
            raise ValueError(f"steps={steps!r}: the health file's samples need at least 1 denoising step "
                             "(None: the model's own).")
        self.steps = None if steps is None else int(steps)
        self._drawn: tuple[int, np.ndarray, np.ndarray | None] | None = None  # (id of the weights' state, images, labels)

    def _samples(self, model) -> tuple[np.ndarray, np.ndarray | None]:
        """n_samples per class (or n_samples), drawn once per check, at ``self.steps`` steps."""
        key = int(model.g_optimizer.iterations.numpy()) if getattr(model, "g_optimizer", None) is not None else -1
        if self._drawn is None or self._drawn[0] != key or key < 0:
            classes = int(model.num_classes or 0)
            z = model.sample_latent(self.n_samples * max(classes, 1), seed=self.seed)
            labels = np.repeat(np.arange(classes), self.n_samples) if classes else None
            self._drawn = (key, model.generate_from_latent(z, labels, steps=self.steps), labels)
        return self._drawn[1], self._drawn[2]

    def diversity_now(self, model) -> dict[int | None, float]:
        """Diversity of the current (EMA) samples: overall (key None, a class-balanced mix of
        n_samples) and per class."""
        images, labels = self._samples(model)
        if labels is None:
            return {None: watch.sample_diversity(images)}
        classes = int(model.num_classes)
        per_class = -(-self.n_samples // classes)  # the first few of each class's block
        mix = np.flatnonzero(np.arange(len(images)) % self.n_samples < per_class)[: self.n_samples]
        found = {None: watch.sample_diversity(images[mix])}
        for label in range(classes):
            found[label] = watch.sample_diversity(images[labels == label])
        return found

    def texture_now(self, model) -> float | None:
        """High-frequency energy of the current (EMA) samples / that of the real images (1 = as real)."""
        if not self.real_hf:
            return None
        images, _ = self._samples(model)
        return float(watch.high_frequency_energy(images).mean()) / self.real_hf

    def check(self, model, logs: dict, epoch: int) -> dict:
        record = super().check(model, logs, epoch)
        logs = logs or {}
        return {"epoch": epoch, "loss": float(logs.get("loss", math.nan)),
                "grad_norm": float(logs.get("grad_norm", math.nan)),
                **{k: v for k, v in record.items() if k not in self._GAN_ONLY and k != "epoch"}}

    @staticmethod
    def describe(record: dict) -> str:
        """One readable line for a health record."""
        parts = [f"health epoch {record['epoch']}: loss {record['loss']:.4f}", f"|grad| {record['grad_norm']:.3g}"]
        if record.get("diversity_ratio"):
            parts.append(f"diversity {record['diversity_ratio']:.2f}x real")
        if record.get("class_diversity_ratio"):
            parts.append(f"lowest class {min(record['class_diversity_ratio'].values()):.2f}x")
        if record.get("hf_ratio") is not None:
            parts.append(f"fine detail {record['hf_ratio']:.2f}x real")
        return " · ".join(parts + ["; ".join(record["alarms"]) or "ok"])


class DiffusionResult(training.TrainResult):
    """What ``train`` made: the model (``.model``, also ``.gan`` as in ``TrainResult``), its run, how it went."""

    @property
    def model(self) -> diffusion.Diffusion:
        return self.gan

    def __repr__(self) -> str:
        alarms = (self.health.records or [{}])[-1].get("alarms") or []
        return (f"DiffusionResult(run={self.run.path.name!r}, epochs={len(self.history.get('loss', []))}, "
                f"{self.seconds:.0f} s, alarms={len(alarms)})")


def train(
    imageset: Any,
    run_dir: str | Path | None = None,
    *,
    config: recipe.DiffusionConfig | None = None,
    callbacks: list | None = None,
    verbose: int | str = "auto",
    resume: bool = True,
    display: bool | str = "auto",
    accel_setup=None,
    **knobs: Any,
) -> DiffusionResult:
    """Train a diffusion model on an ``ImageSet`` (or an N×H×W×C array in [-1, 1]) and save the run.

    The settings are ``config`` (a ``recipe.DiffusionConfig``; default the recipe)
    with ``knobs`` changed (``recipe.diffusion_config``'s names; unknown ones raise
    an error). The run goes to ``run_dir`` or a new folder under
    ``<artifacts>/diffusion/``; an interrupted run with the same data and knobs is
    continued (``resume=False`` starts afresh). ``accel_setup``: as in
    ``training.train`` (default ``accel.configure()``). Training across machines
    (a multi-worker strategy) is the GAN's only.
    """
    from medgan_helpers import accel

    recipe_cfg = recipe.diffusion_config(**knobs)  # also checks the names, with the recipe's message
    cfg = recipe_cfg if config is None else config.replace(**knobs)
    chosen_spe = "steps_per_execution" in knobs
    training._steps_per_execution(cfg, chosen=chosen_spe)  # a bad value fails before any work
    images = imageset if isinstance(imageset, data.ImageSet) else data.from_arrays(imageset)
    images = training.quick_subset(images, cfg.max_images)
    if len(images) < cfg.batch_size:
        raise ValueError(f"only {len(images)} images but batch_size={cfg.batch_size}: lower batch_size.")
    labelled = images.labels is not None and np.ndim(images.labels) == 1
    cfg = cfg.for_data(images.image_size, images.channels, images.class_names if labelled else ())
    setup = accel_setup if accel_setup is not None else accel.configure(verbose=False)
    if not training.is_chief(setup.strategy):
        raise ValueError("diffusion training across machines is not supported: train on one machine "
                         "(one or several GPUs there), or train the GAN with train_cli.")
    spe = training._steps_per_execution(cfg, chosen=chosen_spe, strategy=setup.strategy)
    run = _run_folder(run_dir, images, cfg, resume)
    try:
        return _train_into(run, images, cfg, callbacks, verbose, resume, display, setup, spe)
    finally:
        run.unlock()


def _run_folder(run_dir, images: data.ImageSet, cfg: recipe.DiffusionConfig, resume: bool) -> runs.RunFolder:
    """The locked run folder to train into: ``run_dir``, else an interrupted run to resume, else a new one."""
    if run_dir is not None:
        run = runs.RunFolder(run_dir)
    else:
        run = runs.find_resumable(images.name, cfg.image_size, cfg.knobs(), root=diffusion.runs_root()) \
            if resume else None
        if run is not None:
            print(f"Resuming the interrupted diffusion run {run.path.name}")
        run = run or runs.RunFolder.new(images.name, cfg.image_size, root=diffusion.runs_root())
    run.path.mkdir(parents=True, exist_ok=True)
    run.lock()
    return run


def _train_into(run: runs.RunFolder, images: data.ImageSet, cfg: recipe.DiffusionConfig, extra_callbacks,
                verbose, resume: bool, display, setup, steps_per_execution: int) -> DiffusionResult:
    if not resume and run.backup_dir.exists():
        import shutil

        shutil.rmtree(run.backup_dir)
    steps_per_epoch = cfg.steps_per_epoch or len(images) // cfg.batch_size
    run.write_config(dataset=images.name, image_size=cfg.image_size, channels=cfg.channels, kind="run",
                     family="diffusion", status="running", knobs=cfg.knobs(), num_images=len(images),
                     steps_per_epoch=steps_per_epoch, accelerator=setup.as_dict(),
                     steps_per_execution=steps_per_execution)

    config.seed_everything(cfg.seed)
    with setup.building():
        model = diffusion.Diffusion.from_config(cfg)
        model.compile(jit_compile=setup.xla, steps_per_execution=steps_per_execution)
    batches = data.to_tf_dataset(images, batch_size=cfg.batch_size, seed=cfg.seed,
                                 include_labels=cfg.num_classes is not None)
    if cfg.steps_per_epoch:
        batches = batches.repeat()
    health = DiffusionHealth(real=images, steps=cfg.health_steps, log_path=run.path / "health.json",
                             verbose=verbose != 0)
    guard = watch.NaNGuard(monitor=("loss",))
    grid = watch.SampleGrid(run.samples_dir, n=4 * (cfg.num_classes or 4), every=cfg.sample_every, display=display)
    all_callbacks = [
        keras.callbacks.BackupAndRestore(str(run.backup_dir), double_checkpoint=True),
        keras.callbacks.CSVLogger(str(run.path / "history.csv"), append=True),
        grid, health, guard, *(extra_callbacks or []),
    ]
    start = time.time()
    model.fit(batches, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch, callbacks=all_callbacks,
              verbose=verbose, shuffle=False)
    seconds = round(time.time() - start, 1)
    history = training._read_csv_history(run.path / "history.csv")
    facts = {"seconds": seconds, "steps": int(model.g_optimizer.iterations.numpy()), "device": setup.device}
    if guard.triggered:
        facts["nan_guard"] = guard.message
    runs.save_model(model, run, history=history, **facts)
    return DiffusionResult(model, run, health, guard, grid, history, seconds, setup)
