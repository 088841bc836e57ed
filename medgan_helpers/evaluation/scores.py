"""The four groups of evaluation numbers, each a plain function of arrays.

- :func:`fidelity`      FD, KID and precision / recall / density / coverage between two feature sets
- :func:`diversity`     MS-SSIM among generated vs among real images, per class too
- :func:`memorisation`  nearest training image of every generated image, and "possible copies"
- :func:`utility_scores` TSTR / TRTR / real + synthetic classifiers on the real test split

Plus the input checks every entry point runs first (:func:`check_images`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medgan_helpers.evaluation.features import fit_classifier, predict_logits
from medgan_helpers.evaluation.metrics import (
    MS_SSIM_FILTER_SIZE,
    accuracy,
    balanced_accuracy,
    frechet_distance,
    kid,
    macro_auc_ovr,
    ms_ssim_pairs,
    nearest_neighbours,
    prdc,
)

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
        "n_pairs": n_pairs, "scales": 3, "filter_size": MS_SSIM_FILTER_SIZE,
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
    max_calibration: int = 2000,
    seed: int = 0,
) -> tuple[dict, dict]:
    """Nearest train image per generated image (pixel + feature space) and "possible copies".

    Pixel distances are root-mean-square differences in [-1, 1] units (so they do
    not grow with image size). A generated image is a **possible copy** when it is
    closer to its nearest train image than ``percentile`` % of *training-distribution*
    images are to theirs: the threshold is that percentile of the leave-one-out
    distances of (up to ``max_calibration``) train images to the rest of train. A
    generator that draws new images from the training distribution then has
    about ``percentile`` % flagged by chance; clear copies are flagged always.

    The real test split gives a second, stricter-looking figure (``*_test``): it
    is a shifted distribution (other slice positions, other patients), so its
    distances are larger and its threshold flags faithful non-copies too.
    Returns (numbers, raw arrays for the pictures).
    """
    n_pix = float(np.prod(train_images.shape[1:]))
    rng = np.random.default_rng(seed)
    calibration = np.sort(rng.permutation(len(train_images))[:max_calibration])
    out: dict[str, Any] = {"percentile": percentile, "calibration": "train, leave-one-out",
                           "n_calibration": int(len(calibration))}
    raw: dict[str, Any] = {}
    for space, fake, train, test, scale in (
        ("pixel", fake_images, train_images, test_images, np.sqrt(n_pix)),
        ("feature", fake_features, train_features, test_features, 1.0),
    ):
        fake_idx, fake_d = nearest_neighbours(fake, train)
        _, test_d = nearest_neighbours(test, train)
        _, loo_d = nearest_neighbours(train[calibration], train, exclude=calibration)
        fake_d, test_d, loo_d = fake_d / scale, test_d / scale, loo_d / scale
        threshold = float(np.percentile(loo_d, percentile))
        threshold_test = float(np.percentile(test_d, percentile))
        copies = fake_d <= threshold
        out[space] = {
            "threshold": threshold,
            "possible_copies_fraction": float(copies.mean()),
            "possible_copies": int(copies.sum()),
            "threshold_test": threshold_test,
            "possible_copies_fraction_test": float((fake_d <= threshold_test).mean()),
            "median_fake_to_train": float(np.median(fake_d)),
            "median_train_to_rest": float(np.median(loo_d)),
            "median_test_to_train": float(np.median(test_d)),
            "min_fake_to_train": float(fake_d.min()),
            "closest": [
                {"generated_index": int(i), "train_index": int(fake_idx[i]), "distance": float(fake_d[i])}
                for i in np.argsort(fake_d)[:n_pairs]
            ],
        }
        raw[f"nn_fake_{space}"], raw[f"nn_test_{space}"] = fake_d, test_d
        raw[f"nn_train_{space}"] = loo_d
        raw[f"nn_idx_{space}"] = fake_idx
    order = np.argsort(raw["nn_fake_pixel"])[:n_pairs]
    raw["pair_fake"] = fake_images[order]
    raw["pair_train"] = train_images[raw["nn_idx_pixel"][order]]
    raw["pair_distance"] = raw["nn_fake_pixel"][order]
    return out, raw


def _score_classifier(model, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    logits = predict_logits(model, images)
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
    epochs = 10 if epochs is None else epochs
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



def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """``n`` class labels cycling through ``0 … num_classes-1`` (equal share per class)."""
    return (np.arange(n) % num_classes).astype(np.int64)


def balanced_subset(labels: np.ndarray | None, n: int, seed: int = 0, count: int | None = None) -> np.ndarray:
    """Sorted indices of a random subset of at most ``n`` items with an equal share per class.

    Splits are often stored sorted by class, so ``x[:n]`` is a few classes only; this
    draws ``n // classes`` at random from each class (all of a smaller class; the
    remainder goes to random other items). ``labels=None``: a plain random subset of
    ``count`` items.
    """
    rng = np.random.default_rng(seed)
    if labels is None:
        if count is None:
            raise ValueError("balanced_subset needs labels, or count= (the number of items) when there are none.")
        return np.sort(rng.permutation(count)[:n])
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D class indices, got shape {labels.shape}.")
    if n >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    share = n // len(classes)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:share] for c in classes]
    taken = np.concatenate(chosen)
    rest = rng.permutation(np.setdiff1d(np.arange(len(labels)), taken))[: n - len(taken)]
    return np.sort(np.concatenate([taken, rest]))
