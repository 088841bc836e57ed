"""Train one recipe for real and score it: the shared core of quality.py and ablation.py.

A :class:`Bench` loads brain-mri 64 px once, trains the kit's frozen feature
extractor once, and then, for each ``(knobs, seed)``, trains a GAN with
``training.train`` for a fixed number of generator steps (``steps_per_epoch``
75, so every recipe gets the same number of G updates whatever its batch size)
and scores 1 000 generated images against the real train split with
``medgan_helpers.evaluation``: the realism ruler (two-sample CNN accuracy,
high-frequency energy ratio, intensity quantile distance, each with its floor),
FD, coverage, precision, recall, the worst
per-class MS-SSIM gap to real, possible copies (train leave-one-out threshold),
TSTR, plus how the duel went (D's loss and r_t = E[sign D(real)] over the last epoch).
"""

from __future__ import annotations

import math
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from medgan_helpers import data, evaluation, training

STEPS_PER_EPOCH = 75


def machine() -> str:
    """The machine, in words (for the tables)."""
    import os

    return (f"{os.cpu_count()}-core {platform.processor() or platform.machine()} CPU · "
            f"{platform.system()} · Python {sys.version.split()[0]}")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Bench:
    """brain-mri 64 px, its feature extractor and references, and ``run(knobs, seed, steps)``."""

    def __init__(self, out_root: Path, n_samples: int = 1000, utility_epochs: int = 8, tstr: bool = True,
                 extractor_epochs: int = 12, evaluate_options: dict | None = None):
        self.real_train = data.load_dataset("brain-mri", image_size=64, split="train")
        self.real_test = data.load_dataset("brain-mri", image_size=64, split="test")
        self.out_root, self.n_samples, self.utility_epochs, self.tstr = out_root, n_samples, utility_epochs, tstr
        # evaluate()'s other options (EvalOptions fields), e.g. a smoke test's small sample sizes
        self.evaluate_options = dict(evaluate_options or {})
        self.extractor = evaluation.feature_extractor(self.real_train, epochs=extractor_epochs, verbose=False)
        self.references: dict | None = None

    def trtr(self, seeds: tuple[int, ...]) -> dict:
        """The same classifier trained on real images (the TSTR reference), mean ± std over seeds."""
        t = self.real_train
        return evaluation.utility_scores(
            t.images, t.labels, t.images, t.labels, self.real_test.images, self.real_test.labels,
            num_classes=len(t.class_names), seeds=seeds, epochs=self.utility_epochs, settings=("trtr",),
        )["trtr"]

    def run(self, name: str, knobs: dict, seed: int, steps: int) -> dict:
        """Train ``knobs`` (recipe overrides) for ``steps`` generator updates and score the result."""
        return self.run_checkpoints(name, knobs, seed, [steps])[0]

    def run_checkpoints(self, name: str, knobs: dict, seed: int, steps: list[int]) -> list[dict]:
        """One run of ``max(steps)`` generator updates, scored after each of ``steps``.

        The recipe has no schedule that depends on the run's length (constant
        learning rates, EMA and ADA update every step), so the state after 600
        steps of a 4 500-step run is the state a 600-step run ends in: one run
        scored at several checkpoints replaces several runs.
        """
        import keras

        epochs_at = sorted({max(1, round(s / STEPS_PER_EPOCH)) for s in steps})
        run_dir = self.out_root / f"{name}-seed{seed}-{epochs_at[-1] * STEPS_PER_EPOCH}"
        bench, taken = self, {}
        t0 = time.time()

        class Snapshot(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch + 1 in epochs_at:
                    fake, labels = bench.draw(self.model, seed)
                    taken[epoch + 1] = {"fake": fake, "labels": labels, "logs": dict(logs or {}),
                                        "seconds": time.time() - t0}

        result = training.train(self.real_train, run_dir=run_dir, resume=False, verbose=0, display=False,
                                callbacks=[Snapshot()],
                                **{**knobs, "epochs": epochs_at[-1], "steps_per_epoch": STEPS_PER_EPOCH,
                                   "seed": seed})
        alarms = (result.health.records or [{}])[-1].get("alarms", [])
        rows = []
        for epochs in epochs_at:
            snap = taken[epochs]
            rows.append(self.score(name, knobs, seed, epochs * STEPS_PER_EPOCH, snap["fake"], snap["labels"],
                                    snap["logs"], alarms if epochs == epochs_at[-1] else [],
                                    snap["seconds"], run_dir / f"evaluation-{epochs * STEPS_PER_EPOCH}"))
        return rows

    def draw(self, sampler, seed: int, **options) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` class-balanced images of any sampler (a GAN, a diffusion model with its ``options``
        such as ``steps``) and their labels, from the seed every benchmark scores (1000 + the run's seed)."""
        labels = evaluation.balanced_labels(self.n_samples, sampler.num_classes)
        return sampler.generate(self.n_samples, labels=labels, seed=1000 + seed, **options), labels

    def score(self, name, knobs, seed, steps, fake, labels, logs, alarms, train_seconds, out_dir) -> dict:
        """The row of one model's images ``fake`` (``draw``): every measure against the real train split."""
        t1 = time.time()
        report = evaluation.evaluate(
            self.real_train, self.real_test, fake, labels, extractor=self.extractor, seed=seed,
            utility=self.tstr, utility_seeds=(seed,), utility_epochs=self.utility_epochs,
            utility_settings=("tstr",), references=self.references is None, verbose=False,
            **self.evaluate_options,
        )
        report.save(out_dir)
        if self.references is None:
            fid = report.fidelity
            self.references = {
                "floor_fd": fid["floor_train_halves"]["fd"], "floor_coverage": fid["floor_train_halves"]["coverage"],
                "test_vs_train_fd": fid["test_vs_train"]["fd"],
                "test_vs_train_coverage": fid["test_vs_train"]["coverage"],
            }
        f = report.fidelity["fake_vs_train"]
        real = report.realism or {}
        clf, spec, inten = real.get("classifier", {}), real.get("spectrum", {}), real.get("intensity", {})
        per_class = report.diversity["per_class"] or {}
        gaps = {cls: c["fake_mean"] - c["real_mean"] for cls, c in per_class.items()}
        return {
            "name": name, "seed": seed, "steps": steps, "knobs": knobs,
            "fd": f["fd"], "coverage": f["coverage"], "precision": f["precision"], "recall": f["recall"],
            "worst_ms_ssim_gap": max(gaps.values()) if gaps else math.nan,
            "ms_ssim_gap": gaps,
            "copies": 100 * report.memorisation["pixel"]["possible_copies_fraction"],
            "copies_feature": 100 * report.memorisation["feature"]["possible_copies_fraction"],
            "copies_test_threshold": 100 * report.memorisation["pixel"]["possible_copies_fraction_test"],
            "tstr": (report.utility or {}).get("tstr", {}).get("accuracy", math.nan),
            # the realism ruler (texture, spectrum, intensity), each with its real-halves floor
            "two_sample_acc": clf.get("accuracy", math.nan), "two_sample_acc_std": clf.get("accuracy_std", math.nan),
            "two_sample_floor": clf.get("floor", math.nan),
            "hf_ratio": spec.get("hf_ratio", math.nan), "hf_ratio_floor": spec.get("hf_ratio_floor", math.nan),
            "intensity_qd": inten.get("quantile_distance", math.nan),
            "intensity_qd_floor": inten.get("quantile_distance_floor", math.nan),
            "d_loss": logs.get("d_loss", math.nan), "real_sign": logs.get("real_sign", math.nan),
            "augment_p": logs.get("augment_p", math.nan),
            "alarms": alarms,
            "train_seconds": round(train_seconds, 1), "eval_seconds": round(time.time() - t1, 1),
        }


def mean_std(values) -> tuple[float, float]:
    """Mean and (population) standard deviation, ignoring NaN."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    return (float(arr.mean()), float(arr.std())) if len(arr) else (math.nan, math.nan)
