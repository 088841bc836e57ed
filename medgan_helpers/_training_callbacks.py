"""Callbacks for ``training.GAN.fit`` (re-exported by ``medgan_helpers.training``).

- ``SampleGrid``     fixed latent vectors -> one PNG per epoch (+ inline in notebooks)
- ``NaNGuard``       stops on NaN/Inf losses and rolls back to the last good weights
- ``TrainingHealth`` D accuracy on real vs fake, gradient norms, mode-collapse alarm
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile N images in [-1, 1] (N×H×W×C) into one uint8 picture (rows × columns)."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad, c), dtype=np.uint8)
    pixels = np.clip((images + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid[..., 0] if c == 1 else grid


def save_png(picture: np.ndarray, path: Path, scale: int = 1) -> Path:
    """Write a uint8 H×W or H×W×3 array as PNG (nearest-neighbour upscaled by ``scale``)."""
    from PIL import Image

    img = Image.fromarray(picture)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:  # pragma: no cover
        return False


class SampleGrid(keras.callbacks.Callback):
    """Draw the same latent vectors after every epoch: watch G learn.

    Saves ``<run_dir>/samples/epoch_XXX.png`` and, in a notebook, shows the newest
    grid in place (one picture that updates, not a growing stack).
    ``grids`` keeps every epoch's grid (uint8) for plotting afterwards.
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        n: int = 16,
        seed: int = 1234,
        every: int = 1,
        display: bool | str = "auto",
        keep: int = 64,
    ):
        super().__init__()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.n, self.seed, self.every, self.keep = n, seed, max(1, every), keep
        self.display = _in_notebook() if display == "auto" else bool(display)
        self.grids: dict[int, np.ndarray] = {}
        self._handle = None

    def _fixed_inputs(self):
        model = self.model
        z = model.sample_latent(self.n, seed=self.seed)
        labels = None
        if model.num_classes:
            labels = np.arange(self.n) % model.num_classes
        return z, labels

    def grid_now(self) -> np.ndarray:
        """The grid for the model's current (EMA) generator."""
        z, labels = self._fixed_inputs()
        columns = self.model.num_classes if self.model.num_classes and self.n % self.model.num_classes == 0 else None
        return image_grid(self.model.generate_from_latent(z, labels), columns=columns)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        grid = self.grid_now()
        self.grids[epoch + 1] = grid
        while len(self.grids) > self.keep:
            self.grids.pop(min(self.grids))
        if self.run_dir is not None:
            save_png(grid, self.run_dir / "samples" / f"epoch_{epoch + 1:03d}.png", scale=2)
        if self.display:
            self._show(grid, epoch + 1)

    def _show(self, grid, epoch):
        from IPython import display
        from PIL import Image

        img = Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST)
        if self._handle is None:
            self._handle = display.display(img, display_id=True)
        else:
            self._handle.update(img)


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


class TrainingHealth(keras.callbacks.Callback):
    """One line per epoch on how the duel is going, plus alarms.

    - D accuracy on real and on fake images (both near 1.0 for long = D wins;
      fake accuracy near 0 = G fools D completely, often before a collapse);
    - gradient norms of D and G (a jump of 100x = instability);
    - sample diversity of the EMA generator relative to the real images:
      below ``collapse_ratio`` raises the mode-collapse alarm (after
      ``warmup_epochs``: a fresh G draws near-identical blobs).

    ``records`` holds one dict per epoch; with ``log_path`` they go to JSON too.
    """

    def __init__(
        self,
        real_images: np.ndarray | None = None,
        n_samples: int = 64,
        collapse_ratio: float = 0.3,
        warmup_epochs: int = 3,
        log_path: str | Path | None = None,
        verbose: bool = True,
        seed: int = 4321,
    ):
        super().__init__()
        self.n_samples, self.collapse_ratio, self.verbose, self.seed = n_samples, collapse_ratio, verbose, seed
        self.warmup_epochs = warmup_epochs
        self.log_path = Path(log_path) if log_path is not None else None
        self.real_diversity = None
        if real_images is not None and len(real_images) >= 2:
            pick = np.random.default_rng(seed).permutation(len(real_images))[:n_samples]
            self.real_diversity = sample_diversity(np.asarray(real_images)[np.sort(pick)])
        self.records: list[dict] = []
        if self.log_path is not None and self.log_path.is_file():
            try:  # a resumed run keeps its earlier records
                self.records = json.loads(self.log_path.read_text())
            except (OSError, ValueError):
                self.records = []

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        model = self.model
        z = model.sample_latent(self.n_samples, seed=self.seed)
        labels = np.arange(self.n_samples) % model.num_classes if model.num_classes else None
        diversity = sample_diversity(model.generate_from_latent(z, labels))
        ratio = diversity / self.real_diversity if self.real_diversity else None
        alarms = []
        if ratio is not None and ratio < self.collapse_ratio and epoch + 1 > self.warmup_epochs:
            alarms.append(
                f"mode collapse? samples are {ratio:.2f}x as diverse as real images "
                f"(alarm below {self.collapse_ratio})"
            )
        real_acc, fake_acc = logs.get("d_real_acc", math.nan), logs.get("d_fake_acc", math.nan)
        if real_acc > 0.98 and fake_acc > 0.98:
            alarms.append("D wins easily (accuracy > 0.98 on both): G may stop learning")
        previous = [r["d_grad_norm"] for r in self.records if math.isfinite(r.get("d_grad_norm", math.nan))]
        d_norm = logs.get("d_grad_norm", math.nan)
        if previous and math.isfinite(d_norm) and d_norm > 100 * max(np.median(previous), 1e-8):
            alarms.append("D gradient norm jumped 100x: training is unstable, lower the learning rate")
        record = {
            "epoch": epoch + 1,
            "d_real_acc": real_acc,
            "d_fake_acc": fake_acc,
            "d_grad_norm": d_norm,
            "g_grad_norm": logs.get("g_grad_norm", math.nan),
            "diversity": diversity,
            "diversity_ratio": ratio,
            "alarms": alarms,
        }
        self.records = [r for r in self.records if r["epoch"] < epoch + 1] + [record]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text(json.dumps(self.records, indent=1))
        if self.verbose:
            div = f"{ratio:.2f}x real" if ratio is not None else f"{diversity:.3f}"
            status = "; ".join(alarms) if alarms else "ok"
            print(
                f"health epoch {epoch + 1}: D acc real {real_acc:.2f} / fake {fake_acc:.2f} · "
                f"|grad D| {record['d_grad_norm']:.3g} |grad G| {record['g_grad_norm']:.3g} · "
                f"diversity {div} · {status}"
            )
