"""Callbacks that watch a GAN while ``fit`` trains it.

- ``SampleGrid``     fixed latent vectors -> one PNG per epoch (+ inline in notebooks)
- ``NaNGuard``       stops on NaN/Inf losses and rolls back to the last good weights
- ``TrainingHealth`` D's accuracies, gradient norms, and alarms that tell the truth:
  mode collapse measured *per class* for conditional models, D's loss stuck
  at its chance level (D outputs ~0 for everything, so G learns nothing), and
  samples much noisier or much smoother than real (their high-frequency energy).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from medgan_helpers.evaluation.realism import high_frequency_energy
from medgan_helpers.fileio import write_json
from medgan_helpers.losses import CHANCE_D_LOSS
from medgan_helpers.pictures import image_grid, save_png, to_png


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:  # pragma: no cover
        return False


class SampleGrid(keras.callbacks.Callback):
    """Draw the same latent vectors after every epoch: watch G learn.

    Saves ``<folder>/epoch_XXX.png`` and, in a notebook, shows the newest grid in
    place (one picture that updates, not a growing stack). ``grids`` keeps the
    grids (uint8) for plotting afterwards. Conditional models get one column per class.
    """

    def __init__(self, folder: str | Path | None = None, n: int = 16, seed: int = 1234,
                 every: int = 1, display: bool | str = "auto", keep: int = 64):
        super().__init__()
        self.folder = Path(folder) if folder is not None else None
        self.n, self.seed, self.every, self.keep = n, seed, max(1, every), keep
        self.display = _in_notebook() if display == "auto" else bool(display)
        self.grids: dict[int, np.ndarray] = {}
        self._handle = None

    def grid_now(self) -> np.ndarray:
        """The grid for the model's current (EMA) generator."""
        model = self.model
        z = model.sample_latent(self.n, seed=self.seed)
        columns = model.num_classes if model.num_classes and self.n % model.num_classes == 0 else None
        return image_grid(model.generate_from_latent(z), columns=columns)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        grid = self.grid_now()
        self.grids[epoch + 1] = grid
        while len(self.grids) > self.keep:
            self.grids.pop(min(self.grids))
        if self.folder is not None:
            save_png(grid, self.folder / f"epoch_{epoch + 1:03d}.png", scale=2)
        if self.display:
            from IPython import display

            image = display.Image(to_png(grid, scale=3))
            if self._handle is None:
                self._handle = display.display(image, display_id=True)
            else:
                self._handle.update(image)


class NaNGuard(keras.callbacks.Callback):
    """Stop training when a loss turns NaN/Inf and roll back to the last good state.

    A snapshot of every weight (G, D, EMA-G and both optimizers) is taken at the
    start and after every epoch whose losses were finite. ``triggered`` and
    ``message`` tell what happened.
    """

    def __init__(self, monitor: tuple[str, ...] = ("d_loss", "g_loss"), verbose: bool = True):
        super().__init__()
        self.monitor = monitor
        self.verbose = verbose
        self.triggered = False
        self.message = ""
        self._snapshot = None
        self._snapshot_epoch = 0
        self._epoch = 0

    def _variables(self):
        model = self.model
        variables = list(model.weights)
        for optimizer in (getattr(model, "g_optimizer", None), getattr(model, "d_optimizer", None)):
            if optimizer is not None:
                variables += list(optimizer.variables)
        return variables

    def _take_snapshot(self, epoch):
        self._snapshot = [np.array(v.numpy()) for v in self._variables()]
        self._snapshot_epoch = epoch

    def on_train_begin(self, logs=None):
        self.triggered = False
        self.message = ""
        self._take_snapshot(0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if epoch and self._snapshot_epoch == 0:
            self._snapshot_epoch = epoch  # resumed run: the restored state is the good one

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        for key in self.monitor:
            if key in logs and not math.isfinite(float(logs[key])):
                self._roll_back(key, float(logs[key]), batch)
                return

    def on_epoch_end(self, epoch, logs=None):
        if not self.triggered:
            self._take_snapshot(epoch + 1)

    def _roll_back(self, key, value, batch):
        for variable, saved in zip(self._variables(), self._snapshot):
            variable.assign(saved)
        self.model.stop_training = True
        self.triggered = True
        where = "the start of training" if self._snapshot_epoch == 0 else f"the end of epoch {self._snapshot_epoch}"
        self.message = (
            f"NaNGuard: {key} became {value} at epoch {self._epoch + 1}, batch {batch + 1}. "
            f"Training stopped and every weight was rolled back to {where} (the last good state). "
            "Usual fixes: lower the learning rates (g_lr/d_lr), use loss='hinge' with "
            "spectral_norm=True, and check the input images for NaN/Inf values."
        )
        if self.verbose:
            print("\n" + self.message)


def sample_diversity(images: np.ndarray) -> float:
    """Mean pairwise distance between images (RMS per pixel): ~0 means all samples look alike."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    sq = (flat**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * flat @ flat.T, 0.0)
    n = len(flat)
    return float(np.sqrt(d2[~np.eye(n, dtype=bool)] / flat.shape[1]).mean())


def _real_groups(real: Any, n: int, seed: int) -> dict[int | None, np.ndarray]:
    """Up to ``n`` real images per class (key None: all classes together), as float [-1, 1]."""
    rng = np.random.default_rng(seed)
    labels = getattr(real, "labels", None)
    count = len(real)

    def take(index: np.ndarray) -> np.ndarray:
        index = np.sort(rng.permutation(index)[:n])
        if hasattr(real, "batch_images"):
            return np.asarray(real.batch_images(index), np.float32)
        return np.asarray(real, np.float32)[index]

    groups = {None: take(np.arange(count))}
    if labels is not None and np.ndim(labels) == 1:
        for label in np.unique(labels):
            groups[int(label)] = take(np.flatnonzero(np.asarray(labels) == label))
    return groups


class TrainingHealth(keras.callbacks.Callback):
    """One line per epoch on how the duel is going, with alarms that say what to do.

    - D's accuracy on real and on fake images (both near 1.0 for long = D wins);
    - gradient norms of D and G (a jump of 100x = instability);
    - **diversity per class** (conditional models) relative to the real images
      of that class: a class below ``collapse_ratio`` raises the mode-collapse
      alarm, even when the other classes keep the average up;
    - **D at chance**: D's loss within ``chance_tolerance`` of its value when D
      outputs 0 for every image (hinge 2.0, BCE 2 ln 2 ≈ 1.386) for
      ``chance_epochs`` epochs in a row means D has stopped discriminating;
    - **fine detail**: the energy above half the Nyquist frequency of the EMA
      samples (one batched FFT) over that of the real images. Outside
      ``texture_range`` (default 0.5–2) the samples are much smoother (blur, flat
      patches) or much noisier (speckle, checkerboard) than real; a cheap realism
      signal, the full measures are in ``evaluation.realism``.

    ``real`` is an ``ImageSet`` (or an N×H×W×C array in [-1, 1]); only a few
    dozen images per class are read. ``records`` holds one dict per epoch; with
    ``log_path`` they go to JSON too.
    """

    #: what to try against collapse (all classes, within classes); another model family names its own
    COLLAPSE_REMEDIES: tuple[str, str] = ("minibatch_std=True, a lower G learning rate, or more augmentation",
                                          "conditioning='cbn', minibatch_std=True, or more D capacity")

    def __init__(
        self,
        real: Any = None,
        n_samples: int = 32,
        collapse_ratio: float = 0.5,
        warmup_epochs: int = 3,
        loss: str = "hinge",
        chance_epochs: int = 3,
        chance_tolerance: float = 0.03,
        log_path: str | Path | None = None,
        verbose: bool = True,
        seed: int = 4321,
        texture_range: tuple[float, float] = (0.5, 2.0),
    ):
        super().__init__()
        self.texture_range = texture_range
        self.n_samples, self.collapse_ratio, self.verbose, self.seed = n_samples, collapse_ratio, verbose, seed
        self.warmup_epochs, self.chance_epochs, self.chance_tolerance = warmup_epochs, chance_epochs, chance_tolerance
        self.chance_loss = CHANCE_D_LOSS.get(loss)
        self.log_path = Path(log_path) if log_path is not None else None
        self.real_diversity: dict[int | None, float] = {}
        self.real_hf: float | None = None
        if real is not None and len(real) >= 2:
            groups = _real_groups(real, n_samples, seed)
            self.real_diversity = {k: sample_diversity(v) for k, v in groups.items() if len(v) >= 2}
            self.real_hf = float(high_frequency_energy(groups[None]).mean())
        self.records: list[dict] = []
        if self.log_path is not None and self.log_path.is_file():
            try:  # a resumed run keeps its earlier records
                self.records = json.loads(self.log_path.read_text())
            except (OSError, ValueError):
                self.records = []

    def diversity_now(self, model) -> dict[int | None, float]:
        """Diversity of the current (EMA) samples: overall (key None) and per class."""
        classes = range(model.num_classes) if model.num_classes else []
        z = model.sample_latent(self.n_samples, seed=self.seed)
        found = {None: sample_diversity(model.generate_from_latent(z))}
        for label in classes:
            found[label] = sample_diversity(model.generate_from_latent(z, np.full(len(z), label)))
        return found

    def texture_now(self, model) -> float | None:
        """High-frequency energy of the current (EMA) samples / that of the real images (1 = as real)."""
        if not self.real_hf:
            return None
        samples = model.generate_from_latent(model.sample_latent(self.n_samples, seed=self.seed))
        return float(high_frequency_energy(samples).mean()) / self.real_hf

    def check(self, model, logs: dict, epoch: int) -> dict:
        """The health record of one epoch (also usable on any sampler outside ``fit``)."""
        logs = {k: float(v) for k, v in (logs or {}).items()}
        diversity = self.diversity_now(model)
        ratios = {k: diversity[k] / self.real_diversity[k] for k in diversity
                  if self.real_diversity.get(k)}
        names = list(getattr(model, "class_names", None) or [])
        alarms = []
        if epoch > self.warmup_epochs:
            collapsed = {k: r for k, r in ratios.items() if k is not None and r < self.collapse_ratio}
            if None in ratios and ratios[None] < self.collapse_ratio:
                alarms.append(
                    f"mode collapse: samples are {ratios[None]:.2f}x as diverse as real images "
                    f"(alarm below {self.collapse_ratio}). Try {self.COLLAPSE_REMEDIES[0]}.")
            if collapsed:
                which = ", ".join(f"{names[k] if k < len(names) else k} {r:.2f}x" for k, r in collapsed.items())
                alarms.append(
                    f"mode collapse within classes: {which} as diverse as the real images of the class "
                    f"(alarm below {self.collapse_ratio}). The average over classes can hide this. Try "
                    f"{self.COLLAPSE_REMEDIES[1]}.")
        hf_ratio = self.texture_now(model)
        low, high = self.texture_range
        if epoch > self.warmup_epochs and hf_ratio is not None and not low <= hf_ratio <= high:
            alarms.append(
                f"samples {'much noisier' if hf_ratio > high else 'much smoother'} than real: "
                f"{hf_ratio:.2f}x the real images' energy above half the Nyquist frequency (alarm outside "
                f"{low}-{high}). Look at the samples for "
                + ("speckle, streaks or a checkerboard" if hf_ratio > high else "blur or flat patches")
                + ", and measure realism properly with evaluation.evaluate (its realism group).")
        d_loss = logs.get("d_loss", math.nan)
        at_chance = (self.chance_loss is not None and math.isfinite(d_loss)
                     and abs(d_loss - self.chance_loss) <= self.chance_tolerance * self.chance_loss)
        streak = 1 + self._chance_streak(epoch) if at_chance else 0
        if streak >= self.chance_epochs:
            alarms.append(
                f"D at chance: D's loss has been {d_loss:.2f} (≈ {self.chance_loss:.2f}, its value when D "
                f"outputs 0 for every image) for {streak} epochs. D no longer tells real from fake. That "
                "has two readings, and only the samples tell them apart: if they still look wrong, D has "
                "given up and G gets no useful gradient; if they look like real images, G has caught up "
                "(the game's equilibrium also puts D at chance: measure it, notebook 05). If D gave up, "
                f"try: {'; '.join(self._chance_remedies(model))}.")
        real_acc, fake_acc = logs.get("d_real_acc", math.nan), logs.get("d_fake_acc", math.nan)
        if real_acc > 0.98 and fake_acc > 0.98:
            alarms.append("D wins easily (accuracy > 0.98 on both): G may stop learning")
        previous = [r["d_grad_norm"] for r in self.records
                    if r.get("d_grad_norm") is not None and math.isfinite(r["d_grad_norm"])]
        d_norm = logs.get("d_grad_norm", math.nan)
        if previous and math.isfinite(d_norm) and d_norm > 100 * max(np.median(previous), 1e-8):
            alarms.append("D gradient norm jumped 100x: training is unstable, lower the learning rate")
        return {
            "epoch": epoch,
            "d_loss": d_loss,
            "d_real_acc": real_acc,
            "d_fake_acc": fake_acc,
            "d_grad_norm": d_norm,
            "g_grad_norm": logs.get("g_grad_norm", math.nan),
            "diversity": diversity[None],
            "diversity_ratio": ratios.get(None),
            "class_diversity_ratio": {(names[k] if k < len(names) else str(k)): r
                                      for k, r in ratios.items() if k is not None} or None,
            "d_at_chance": streak,
            "hf_ratio": hf_ratio,
            "alarms": alarms,
        }

    @staticmethod
    def _chance_remedies(model) -> list[str]:
        """What measured to help a D at chance (benchmarks/ablation.py), minus what ``model`` already does."""
        remedies = []
        policy = getattr(model, "augment_policy", None)
        if policy and getattr(model, "ada_target", None) is None:
            remedies.append("weaker or adaptive augmentation (augment='medical', ada_target=0.6: large "
                            "shifts keep a small D at chance)")
        optimizer = getattr(model, "d_optimizer", None)
        beta_1 = getattr(optimizer, "beta_1", None)
        if beta_1 is None or float(beta_1) > 0.0:
            remedies.append("Adam betas (0.0, 0.99)")
        remedies.append("a faster D (d_lr 2x g_lr)")
        return remedies

    def _chance_streak(self, epoch: int) -> int:
        earlier = {r["epoch"]: r.get("d_at_chance", 0) for r in self.records}
        return int(earlier.get(epoch - 1, 0))

    def on_epoch_end(self, epoch, logs=None):
        record = self.check(self.model, logs, epoch + 1)
        self.records = [r for r in self.records if r["epoch"] < epoch + 1] + [record]
        if self.log_path is not None:
            write_json(self.log_path, self.records)
        if self.verbose:
            print(self.describe(record))

    @staticmethod
    def describe(record: dict) -> str:
        """One readable line for a health record."""
        per_class = record.get("class_diversity_ratio") or {}
        worst = min(per_class.values()) if per_class else None
        div = f"{record['diversity_ratio']:.2f}x real" if record.get("diversity_ratio") else "n/a"
        if worst is not None:
            div += f" (lowest class {worst:.2f}x)"
        status = "; ".join(record["alarms"]) if record["alarms"] else "ok"
        if record.get("hf_ratio") is not None:
            div += f" · fine detail {record['hf_ratio']:.2f}x real"
        return (
            f"health epoch {record['epoch']}: D loss {record['d_loss']:.2f} · D acc real "
            f"{record['d_real_acc']:.2f} / fake {record['d_fake_acc']:.2f} · |grad D| "
            f"{record['d_grad_norm']:.3g} |grad G| {record['g_grad_norm']:.3g} · diversity {div} · {status}"
        )
