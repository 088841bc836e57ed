"""Honest evaluation of generated medical images: fidelity, diversity, memorisation, utility.

Everything is measured without ImageNet weights. The feature space is the
penultimate layer of a small classifier trained on the *real train split* of the
dataset (cached per dataset and size, frozen before any GAN is scored). In it:

- **Fidelity** — Fréchet distance (FD), KID (unbiased, mean ± std over subsets) and
  precision / recall / density / coverage (k = 5, Naeem et al. 2020), each for the
  generated images vs the real train split and vs the real test split. Every
  number comes with two references for scale: a *noise floor* (two disjoint
  halves of the real train split) and *real test vs real train*. The test split
  is a shifted distribution (other slice positions / patients), so a generator
  that fits the train split well can score *below* test-vs-train on FD-to-train.
- **Diversity** — MS-SSIM (3 scales, filter 7, works from 28 px) between random
  pairs of generated images vs pairs of real images, per class when conditional.
- **Memorisation** — for every generated image the nearest real train image, in
  pixel space and in feature space; the fraction closer than the 1st percentile
  of real-test→train distances is reported as "possible copies".
- **Utility** — the same small classifier trained on synthetic only (TSTR), real
  only (TRTR) and real + synthetic, tested on the real test split: accuracy,
  balanced accuracy, macro one-vs-rest AUC, mean ± std over seeds.

Entry points: :func:`evaluate` (arrays or ``ImageSet``s → :class:`EvaluationReport`),
:func:`evaluate_run` (a saved run or any sampler → report files in the run
folder) and the command line ``python -m medgan_helpers.evaluation RUN_DIR``.
No metric replaces a radiologist looking at the images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers import _eval_features, _eval_metrics, config
from medgan_helpers._eval_features import FeatureExtractor, build_classifier, fit_classifier
from medgan_helpers._eval_metrics import (
    MIN_SAMPLES,
    accuracy,
    balanced_accuracy,
    binary_auc,
    frechet_distance,
    frechet_distance_from_stats,
    kid,
    macro_auc_ovr,
    ms_ssim_pairs,
    nearest_neighbours,
    pairwise_distances,
    pca_2d,
    prdc,
)
from medgan_helpers._eval_report import EvaluationReport

__all__ = [
    "EvaluationReport",
    "FeatureExtractor",
    "MIN_SAMPLES",
    "accuracy",
    "balanced_accuracy",
    "binary_auc",
    "build_classifier",
    "diversity",
    "evaluate",
    "evaluate_run",
    "output_dir_for",
    "feature_extractor",
    "fidelity",
    "fit_classifier",
    "frechet_distance",
    "frechet_distance_from_stats",
    "kid",
    "macro_auc_ovr",
    "memorisation",
    "ms_ssim_pairs",
    "nearest_neighbours",
    "pairwise_distances",
    "pca_2d",
    "prdc",
    "utility_scores",
]

RANGE_TOLERANCE = 1e-3


# ============================================================================ input checks
def _unpack(x: Any, name: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(images, labels, info) from an ImageSet-like object, an (images, labels) pair or an array."""
    if isinstance(x, tuple):
        if len(x) != 2:
            raise ValueError(f"{name} as a tuple must be (images, labels), got {len(x)} items.")
        images, labels = x
        info = {"name": None, "class_names": None, "split": None}
        return check_images(images, name), None if labels is None else np.asarray(labels), info
    if hasattr(x, "images") and hasattr(x, "labels"):
        info = {
            "name": getattr(x, "name", None),
            "class_names": list(getattr(x, "class_names", None) or []) or None,
            "split": getattr(x, "split", None),
        }
        labels = None if x.labels is None else np.asarray(x.labels)
        return check_images(x.images, name), labels, info
    return check_images(x, name), None, {"name": None, "class_names": None, "split": None}


def check_images(images: Any, name: str = "images") -> np.ndarray:
    """Validate a batch of images: N×H×W×C float in [-1, 1], square, finite.

    Returns it as float32. Raises a ``ValueError`` that names ``name``, the
    problem and the fix.
    """
    x = np.asarray(images)
    if x.ndim == 3 and x.shape[-1] not in (1, 3) and x.shape[1] == x.shape[2]:
        raise ValueError(
            f"{name} has shape {x.shape}: it looks like N×H×W without a channel axis. "
            f"Add one with {name}[..., None] (images must be N×H×W×C)."
        )
    if x.ndim != 4:
        raise ValueError(
            f"{name} must be a 4-D array N×H×W×C (C = 1 for grey, 3 for colour), got shape {x.shape}."
        )
    if x.shape[1] != x.shape[2] or x.shape[3] not in (1, 3):
        raise ValueError(
            f"{name} has shape {x.shape}; expected square images with 1 or 3 channels (N×H×H×C). "
            "Channels-first arrays need np.transpose(x, (0, 2, 3, 1))."
        )
    if len(x) == 0:
        raise ValueError(f"{name} is empty (0 images).")
    if x.dtype == np.uint8:
        raise ValueError(
            f"{name} is uint8 (0–255). The kit works in [-1, 1]: use {name}.astype('float32') / 127.5 - 1 "
            "(or pass ImageSet.images)."
        )
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values; the generator may have diverged.")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = (
            " They look like 0–255 pixels: divide by 127.5 and subtract 1."
            if hi > 2
            else " Scale them to [-1, 1] (x * 2 - 1 for [0, 1] data)."
        )
        raise ValueError(f"{name} has values in [{lo:.3g}, {hi:.3g}], outside [-1, 1].{hint}")
    return np.clip(x, -1.0, 1.0)


def _check_labels(labels: Any, n: int, name: str, num_classes: int | None = None) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must be a 1-D array of {n} integer class labels, got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        if np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}.")
    if y.min() < 0 or (num_classes is not None and y.max() >= num_classes):
        raise ValueError(
            f"{name} has labels in [{y.min()}, {y.max()}], but the real data has {num_classes} classes "
            f"(valid labels 0…{(num_classes or 1) - 1})."
        )
    return y.astype(np.int64)


# ============================================================================ feature space
def feature_extractor(
    real_train: Any,
    kind: str = "classifier",
    dataset_name: str | None = None,
    epochs: int | None = None,
    cache: bool = True,
    seed: int = 0,
    verbose: bool = True,
) -> FeatureExtractor:
    """The frozen feature extractor for ``real_train`` (an ImageSet or images array).

    ``kind="classifier"`` (default) trains — once, then loads from
    ``config.cache_dir()/feature_extractors`` — the kit's small CNN on the real train
    split. ``kind="inception"`` uses InceptionV3 only if its weights already exist
    locally, labelled "not comparable with published FID".
    """
    images, labels, info = _unpack(real_train, "real_train")
    if kind == "inception":
        return _eval_features.inception_feature_extractor(images.shape[1], images.shape[3])
    if kind != "classifier":
        raise ValueError(f"feature extractor kind must be 'classifier' or 'inception', got {kind!r}.")
    name = dataset_name or info["name"] or "array"
    return _eval_features.classifier_feature_extractor(
        images, labels, name, epochs=epochs, cache=cache, seed=seed, verbose=verbose
    )


# ============================================================================ metric groups
def fidelity(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    k: int = 5,
    kid_subsets: int = 50,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """FD, KID (mean, std) and precision/recall/density/coverage between two feature sets."""
    kid_mean, kid_std = kid(real_features, fake_features, kid_subsets, kid_subset_size, seed)
    out = {"fd": frechet_distance(real_features, fake_features), "kid": kid_mean, "kid_std": kid_std}
    out.update(prdc(real_features, fake_features, k=k))
    out["n_real"], out["n_fake"] = int(len(real_features)), int(len(fake_features))
    return out


def diversity(
    fake_images: np.ndarray,
    real_images: np.ndarray,
    fake_labels: np.ndarray | None = None,
    real_labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    n_pairs: int = 300,
    seed: int = 0,
) -> tuple[dict, dict]:
    """MS-SSIM among generated vs among real images (+ per class); returns (numbers, raw values)."""
    fake_v = ms_ssim_pairs(fake_images, n_pairs, seed)
    real_v = ms_ssim_pairs(real_images, n_pairs, seed + 1)
    out: dict[str, Any] = {
        "fake_mean": float(fake_v.mean()), "fake_std": float(fake_v.std()),
        "real_mean": float(real_v.mean()), "real_std": float(real_v.std()),
        "n_pairs": n_pairs, "scales": 3, "filter_size": _eval_metrics.MS_SSIM_FILTER_SIZE,
        "per_class": None,
    }
    if fake_labels is not None and real_labels is not None and np.asarray(real_labels).ndim == 1:
        per_class = {}
        for c in np.unique(real_labels):
            f, r = fake_images[fake_labels == c], real_images[real_labels == c]
            if len(f) < 2 or len(r) < 2:
                continue
            name = class_names[c] if class_names and c < len(class_names) else str(int(c))
            per_class[name] = {
                "fake_mean": float(ms_ssim_pairs(f, max(20, n_pairs // 4), seed).mean()),
                "real_mean": float(ms_ssim_pairs(r, max(20, n_pairs // 4), seed + 1).mean()),
            }
        out["per_class"] = per_class
    return out, {"ms_ssim_fake": fake_v, "ms_ssim_real": real_v}


def memorisation(
    fake_images: np.ndarray,
    train_images: np.ndarray,
    test_images: np.ndarray,
    fake_features: np.ndarray,
    train_features: np.ndarray,
    test_features: np.ndarray,
    percentile: float = 1.0,
    n_pairs: int = 8,
) -> tuple[dict, dict]:
    """Nearest train image per generated image (pixel + feature space) and "possible copies".

    Pixel distances are root-mean-square differences in [-1, 1] units (so they do
    not grow with image size). A generated image is a possible copy when it is
    closer to its nearest train image than ``percentile`` % of real test images are
    to theirs. Returns (numbers, raw arrays for the pictures).
    """
    n_pix = float(np.prod(train_images.shape[1:]))
    out: dict[str, Any] = {"percentile": percentile}
    raw: dict[str, Any] = {}
    for space, fake, train, test, scale in (
        ("pixel", fake_images, train_images, test_images, np.sqrt(n_pix)),
        ("feature", fake_features, train_features, test_features, 1.0),
    ):
        fake_idx, fake_d = nearest_neighbours(fake, train)
        _, test_d = nearest_neighbours(test, train)
        fake_d, test_d = fake_d / scale, test_d / scale
        threshold = float(np.percentile(test_d, percentile))
        copies = fake_d <= threshold
        out[space] = {
            "threshold": threshold,
            "possible_copies_fraction": float(copies.mean()),
            "possible_copies": int(copies.sum()),
            "median_fake_to_train": float(np.median(fake_d)),
            "median_test_to_train": float(np.median(test_d)),
            "min_fake_to_train": float(fake_d.min()),
            "closest": [
                {"generated_index": int(i), "train_index": int(fake_idx[i]), "distance": float(fake_d[i])}
                for i in np.argsort(fake_d)[:n_pairs]
            ],
        }
        raw[f"nn_fake_{space}"], raw[f"nn_test_{space}"] = fake_d, test_d
        raw[f"nn_idx_{space}"] = fake_idx
    order = np.argsort(raw["nn_fake_pixel"])[:n_pairs]
    raw["pair_fake"] = fake_images[order]
    raw["pair_train"] = train_images[raw["nn_idx_pixel"][order]]
    raw["pair_distance"] = raw["nn_fake_pixel"][order]
    return out, raw


def _score_classifier(model, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    logits = _eval_features.predict_logits(model, images)
    z = logits - logits.max(1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    pred = prob.argmax(1)
    return {
        "accuracy": accuracy(labels, pred),
        "balanced_accuracy": balanced_accuracy(labels, pred),
        "macro_auc": macro_auc_ovr(labels, prob),
    }


def utility_scores(
    fake_images: np.ndarray,
    fake_labels: np.ndarray,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    epochs: int | None = None,
    settings: tuple[str, ...] = ("tstr", "trtr", "mixed"),
    verbose: bool = False,
) -> dict:
    """TSTR / TRTR / real+synthetic: train the kit's small classifier, test on real test.

    Returns for each setting accuracy, balanced accuracy and macro AUC as
    mean and ``_std`` over ``seeds``.
    """
    for name, y in (("fake_labels", fake_labels), ("train_labels", train_labels), ("test_labels", test_labels)):
        if y is None:
            raise ValueError(
                f"utility (TSTR/TRTR) needs class labels, but {name} is None. Generate with labels "
                "(a conditional GAN) and pass fake_labels=..., or call evaluate(..., utility=False)."
            )
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max(), fake_labels.max()) + 1)
    epochs = epochs if epochs is not None else config.quick_or(10, 3)
    unknown = set(settings) - {"tstr", "trtr", "mixed"}
    if unknown:
        raise ValueError(f"utility settings {sorted(unknown)} unknown; use 'tstr', 'trtr' and/or 'mixed'.")
    data_for = {
        "tstr": lambda: (fake_images, fake_labels),
        "trtr": lambda: (train_images, train_labels),
        "mixed": lambda: (
            np.concatenate([train_images, fake_images]), np.concatenate([train_labels, fake_labels])
        ),
    }
    out: dict[str, Any] = {"seeds": list(seeds), "epochs": epochs, "num_classes": num_classes}
    for key in settings:
        x, y = data_for[key]()
        runs = []
        for seed in seeds:
            if verbose:
                print(f"  utility: training on {key} (seed {seed}, {len(x)} images)")
            model = fit_classifier(x, y, num_classes, epochs=epochs, seed=seed)
            runs.append(_score_classifier(model, test_images, test_labels))
        stats: dict[str, float] = {"n_train": int(len(x))}
        for metric in runs[0]:
            vals = np.array([r[metric] for r in runs])
            stats[metric], stats[metric + "_std"] = float(vals.mean()), float(vals.std())
        out[key] = stats
    return out


# ============================================================================ evaluate
def evaluate(
    real_train: Any,
    real_test: Any,
    fake_images: Any,
    fake_labels: Any = None,
    *,
    train_labels: Any = None,
    test_labels: Any = None,
    class_names: list[str] | None = None,
    feature_extractor_kind: str = "classifier",
    extractor: FeatureExtractor | None = None,
    utility: bool | str = "auto",
    utility_seeds: tuple[int, ...] = (0, 1, 2),
    utility_epochs: int | None = None,
    utility_settings: tuple[str, ...] = ("tstr", "trtr", "mixed"),
    max_real: int | None = None,
    k: int = 5,
    references: bool = True,
    kid_subsets: int | None = None,
    diversity_pairs: int | None = None,
    seed: int = 0,
    dataset_name: str | None = None,
    verbose: bool = True,
) -> EvaluationReport:
    """Score generated images against the real train and test splits.

    Args:
        real_train, real_test: ``data.ImageSet`` objects, ``(images, labels)`` pairs or float32
            arrays N×H×W×C in [-1, 1] (then labels via ``train_labels`` / ``test_labels``).
        fake_images: generated images, same H×W×C, in [-1, 1].
        fake_labels: class label of each generated image (needed for utility and
            per-class diversity).
        feature_extractor_kind: ``"classifier"`` (default) or ``"inception"`` (only
            with local weights); ``extractor`` passes a ready one instead.
        utility: ``"auto"`` runs TSTR/TRTR when all labels are there, ``True``
            insists (error when labels are missing), ``False`` skips.
        max_real: subsample each real split to at most this many images (speed).
        k: neighbourhood size for precision/recall/density/coverage.
        references: also score the two real-vs-real reference rows (noise floor and
            test vs train); they do not depend on the generator, so a loop over
            many generators can compute them once and pass False afterwards.
        kid_subsets, diversity_pairs: subsets for KID, random pairs for MS-SSIM.

    Returns:
        An :class:`EvaluationReport` (``.table()``, ``.to_json()``, ``.plots()``,
        ``.save_summary_png()``).
    """
    t0 = time.time()
    train_x, train_y, train_info = _unpack(real_train, "real_train")
    test_x, test_y, _ = _unpack(real_test, "real_test")
    fake_x = check_images(fake_images, "fake_images")
    if not (train_x.shape[1:] == test_x.shape[1:] == fake_x.shape[1:]):
        raise ValueError(
            "real_train, real_test and fake_images must have the same image shape H×W×C, got "
            f"{train_x.shape[1:]}, {test_x.shape[1:]} and {fake_x.shape[1:]}. Load the real data at "
            "the generator's image_size (data.load_dataset(..., image_size=G.image_size))."
        )
    # sample-count checks up front, with the number needed
    _eval_metrics.require_samples(len(fake_x), "prdc", "fake_images", needed=max(k + 1, MIN_SAMPLES["frechet_distance"]))
    _eval_metrics.require_samples(len(test_x), "prdc", "real_test", needed=max(k + 1, MIN_SAMPLES["frechet_distance"]))
    needed_train = 2 * max(k + 1, MIN_SAMPLES["frechet_distance"])
    if len(train_x) < needed_train:
        raise ValueError(
            f"real_train has {len(train_x)} images, but the evaluation needs at least {needed_train} "
            "(the noise floor splits it into two halves of ≥ 10). Pass more real images."
        )
    if train_labels is not None:
        train_y = np.asarray(train_labels)
    if test_labels is not None:
        test_y = np.asarray(test_labels)
    multilabel = train_y is not None and train_y.ndim == 2 and train_y.shape[1] > 1
    class_names = class_names or train_info["class_names"]
    num_classes = None
    if train_y is not None and not multilabel:
        train_y = _check_labels(train_y, len(train_x), "real_train labels")
        num_classes = len(class_names) if class_names else int(train_y.max()) + 1
        if test_y is not None:
            test_y = _check_labels(test_y, len(test_x), "real_test labels", num_classes)
    if fake_labels is not None:
        fake_labels = _check_labels(fake_labels, len(fake_x), "fake_labels", num_classes)
    extractor_labels = train_y  # multi-hot labels train a multi-label feature classifier
    labels_ok = fake_labels is not None and train_y is not None and test_y is not None and not multilabel
    if utility is True and not labels_ok:
        missing = "fake_labels" if fake_labels is None else ("real labels" if not multilabel else "single labels")
        raise ValueError(
            f"utility=True (TSTR/TRTR) needs class labels, but {missing} are missing. Pass fake_labels=... "
            "(generate with a conditional GAN) and labelled real splits, or use utility=False."
        )

    rng = np.random.default_rng(seed)
    if max_real is not None:
        if len(train_x) > max_real:
            keep = np.sort(rng.choice(len(train_x), max_real, replace=False))
            train_x, train_y = train_x[keep], None if train_y is None else train_y[keep]
            extractor_labels = None if extractor_labels is None else extractor_labels[keep]
        if len(test_x) > max_real:
            keep = np.sort(rng.choice(len(test_x), max_real, replace=False))
            test_x, test_y = test_x[keep], None if test_y is None else test_y[keep]

    timings: dict[str, float] = {}
    clock = [time.time(), None]

    def say(msg: str, step: str | None = None) -> None:
        now = time.time()
        if clock[1] is not None:
            timings[clock[1]] = round(now - clock[0], 1)
        clock[0], clock[1] = now, step
        if verbose and msg:
            print(msg, flush=True)

    # 1. feature space: trained on the real train split, frozen before the fakes are seen
    if extractor is None:
        if feature_extractor_kind == "inception":
            extractor = _eval_features.inception_feature_extractor(train_x.shape[1], train_x.shape[3])
        else:
            name = dataset_name or train_info["name"] or "array"
            extractor = _eval_features.classifier_feature_extractor(
                train_x, extractor_labels, name, verbose=verbose
            )
    say("Extracting features …", "features")
    f_train, f_test, f_fake = extractor(train_x), extractor(test_x), extractor(fake_x)

    # 2. fidelity + the two reference rows
    say("Fidelity: FD, KID, precision/recall/density/coverage …", "fidelity")
    n_kid = kid_subsets if kid_subsets is not None else config.quick_or(20, 10)
    fid: dict[str, Any] = {}
    fid["fake_vs_train"] = fidelity(f_train, f_fake, k, n_kid, seed=seed)
    fid["fake_vs_test"] = fidelity(f_test, f_fake, k, n_kid, seed=seed)
    if references:
        perm = rng.permutation(len(f_train))
        half = len(perm) // 2
        fid["floor_train_halves"] = fidelity(
            f_train[perm[:half]], f_train[perm[half : 2 * half]], k, n_kid, seed=seed
        )
        fid["test_vs_train"] = fidelity(f_train, f_test, k, n_kid, seed=seed)

    # 3. diversity
    say("Diversity: MS-SSIM …", "diversity")
    n_pairs = diversity_pairs if diversity_pairs is not None else config.quick_or(500, 100)
    div, div_raw = diversity(fake_x, train_x, fake_labels, train_y if not multilabel else None,
                             class_names, n_pairs=n_pairs, seed=seed)

    # 4. memorisation
    say("Memorisation: nearest training images …", "memorisation")
    mem, mem_raw = memorisation(fake_x, train_x, test_x, f_fake, f_train, f_test)

    # 5. utility
    util: dict[str, Any] | None
    if utility and labels_ok:
        say(f"Utility: {', '.join(utility_settings)} classifiers over {len(utility_seeds)} seeds …", "utility")
        util = utility_scores(fake_x, fake_labels, train_x, train_y, test_x, test_y, num_classes,
                                    seeds=tuple(utility_seeds), epochs=utility_epochs,
                                    settings=tuple(utility_settings))
    else:
        reason = ("switched off" if utility is False
                  else "multi-label data" if multilabel
                  else "no labels for the generated images (pass fake_labels=...)" if fake_labels is None
                  else "the real splits have no labels")
        util = {"skipped": reason}

    # 6. pictures' data
    pca_train, pca_test, pca_fake = _eval_metrics.pca_2d(
        f_train[:1000], f_test[:1000], f_fake[:1000]
    )
    results = {
        "meta": {
            "dataset": dataset_name or train_info["name"] or "arrays",
            "image_size": int(train_x.shape[1]),
            "channels": int(train_x.shape[3]),
            "n_train": int(len(train_x)),
            "n_test": int(len(test_x)),
            "n_fake": int(len(fake_x)),
            "conditional": fake_labels is not None,
            "class_names": class_names,
            "feature_extractor": extractor.name,
            "feature_extractor_info": {k: v for k, v in extractor.info.items() if k != "feature_shift"},
            "feature_dim": int(f_train.shape[1]),
            "comparable_with_published_fid": False,
            "k": k,
            "seed": seed,
            "quick": config.is_quick(),
            "seconds": None,
        },
        "fidelity": fid,
        "diversity": div,
        "memorisation": mem,
        "utility": util,
    }
    say("", None)
    results["meta"]["seconds"] = round(time.time() - t0, 1)
    results["meta"]["timings"] = timings
    plot = {"pca_train": pca_train, "pca_test": pca_test, "pca_fake": pca_fake, **div_raw, **mem_raw}
    say(f"Evaluation done in {results['meta']['seconds']} s.")
    return EvaluationReport(results, plot)


# ============================================================================ runs
def _run_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """``n`` class labels cycling through ``0 … num_classes-1`` (equal share per class)."""
    return (np.arange(n) % num_classes).astype(np.int64)


def output_dir_for(run_dir_or_sampler: Any, dataset: str | None = None) -> Path:
    """Where the report of a run (or sampler) belongs.

    A run folder (made by ``training.train`` / ``save_run``) → that folder. The
    shipped pretrained model (``data/pretrained/…``), anything under ``data/`` and
    a bare sampler → ``artifacts/evaluations/pretrained-<name>/``, ``…/<name>/`` or
    ``…/<dataset>-<size>px-sampler/``: the kit never writes into a data folder.
    """
    run_dir: Path | None = None
    if isinstance(run_dir_or_sampler, (str, Path)):
        run_dir = Path(run_dir_or_sampler)
    else:
        maybe = getattr(run_dir_or_sampler, "run_dir", None) or (
            getattr(run_dir_or_sampler, "info", None) or {}
        ).get("path")
        run_dir = Path(maybe) if maybe else None
    evaluations = config.artifacts_dir() / "evaluations"
    if run_dir is None:
        size = getattr(run_dir_or_sampler, "image_size", "?")
        return evaluations / f"{dataset or 'dataset'}-{size}px-sampler"
    if _is_inside(run_dir, config.pretrained_dir()):
        return evaluations / f"pretrained-{run_dir.name}"
    if _is_inside(run_dir, config.cache_dir()) or (config.REPO_ROOT and _is_inside(run_dir, config.REPO_ROOT / "data")):
        return evaluations / run_dir.name
    return run_dir


def evaluate_run(
    run_dir_or_sampler: Any,
    dataset: str | None = None,
    n_samples: int | None = None,
    *,
    image_size: int | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    **evaluate_kwargs: Any,
) -> EvaluationReport:
    """Load a run (or take a sampler), generate, evaluate and write the report files.

    ``run_dir_or_sampler`` is a run directory (loaded with
    ``training.load_generator``), the shipped pretrained folder, or any object
    with the sampler protocol (``generate``, ``image_size``, ``num_classes`` …).
    Writes ``evaluation.json`` and ``evaluation.png`` into the run directory; for
    the shipped pretrained model (under ``data/pretrained``) or a bare sampler
    they go to ``artifacts/evaluations/<name>/`` instead — never into a data folder.
    The paths are in ``report.results["files"]``.
    """
    from medgan_helpers import data, training

    run_dir: Path | None = None
    cfg: dict = {}
    if isinstance(run_dir_or_sampler, (str, Path)):
        run_dir = Path(run_dir_or_sampler).expanduser()
        if not run_dir.is_dir():
            raise FileNotFoundError(
                f"Run directory {run_dir} does not exist. Pass a folder from artifacts/runs/ "
                "(training.latest_run() finds the newest) or the pretrained folder."
            )
        sampler = training.load_generator(run_dir)
        cfg = _run_config(run_dir)
    else:
        sampler = run_dir_or_sampler
        for attr in ("generate", "image_size", "num_classes"):
            if not hasattr(sampler, attr):
                raise TypeError(
                    f"evaluate_run needs a run directory or a sampler (GAN / GeneratorModel); "
                    f"{type(sampler).__name__} has no '{attr}'."
                )
        maybe_dir = getattr(sampler, "run_dir", None) or (getattr(sampler, "info", None) or {}).get("path")
        if maybe_dir:
            run_dir = Path(maybe_dir)
            cfg = _run_config(run_dir)

    info = getattr(sampler, "info", None) or {}
    dataset = dataset or cfg.get("dataset") or info.get("dataset") or "brain-mri"
    image_size = image_size or int(getattr(sampler, "image_size", None) or cfg.get("image_size") or 64)
    n_samples = n_samples or config.quick_or(1000, 200)
    real_train = data.load_dataset(dataset, image_size=image_size, split="train")
    real_test = data.load_dataset(dataset, image_size=image_size, split="test")

    num_classes = getattr(sampler, "num_classes", None)
    labels = balanced_labels(n_samples, num_classes) if num_classes else None
    fake = np.asarray(sampler.generate(n_samples, labels=labels, seed=seed))
    report = evaluate(real_train, real_test, fake, labels, seed=seed, dataset_name=dataset, **evaluate_kwargs)

    report.results["meta"]["source"] = str(run_dir) if run_dir is not None else type(sampler).__name__
    report.results["meta"]["n_samples"] = n_samples
    report.save(Path(out_dir) if out_dir is not None else output_dir_for(run_dir if run_dir else sampler, dataset))
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
    parser.add_argument("--no-utility", action="store_true", help="skip the TSTR/TRTR classifiers")
    parser.add_argument("--out", default=None, help="write the report here instead of the run folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    target: Any = args.run_dir
    if target is None:
        from medgan_helpers import training

        target = training.latest_run()
        if target is None:
            pretrained = config.pretrained_dir() / "brain-mri-64"
            if not pretrained.is_dir():
                parser.error("no run in artifacts/ and no pretrained model: pass RUN_DIR")
            target = pretrained
    try:
        report = evaluate_run(target, dataset=args.dataset, n_samples=args.n_samples, out_dir=args.out,
                              seed=args.seed, **({"utility": False} if args.no_utility else {}))
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.table())
    print(f"\nWrote {report.results['files']['json']}\n  and {report.results['files']['png']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
