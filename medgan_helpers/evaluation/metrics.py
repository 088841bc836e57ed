"""Metric maths for :mod:`medgan_helpers.evaluation` (NumPy / SciPy / one TF op).

Everything here works on plain arrays so it can be tested against known answers:
features are ``N×D`` float arrays, images ``N×H×W×C`` float32 in ``[-1, 1]``.
The public entry points are re-exported by :mod:`medgan_helpers.evaluation`.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

#: smallest sample counts each metric accepts (the error messages quote them)
MIN_SAMPLES = {
    "frechet_distance": 10,
    "kid": 4,
    "prdc": 6,  # k + 1 with the default k = 5
    "ms_ssim": 2,
    "memorisation": 1,
}


def require_samples(n: int, metric: str, what: str, needed: int | None = None) -> None:
    """Raise a clear ``ValueError`` when ``n`` samples are too few for ``metric``."""
    needed = MIN_SAMPLES[metric] if needed is None else needed
    if n < needed:
        raise ValueError(
            f"{what} has {n} samples, but {metric} needs at least {needed}. "
            f"Pass more images (ideally several hundred) or switch this metric off."
        )


# ----------------------------------------------------------------------------- Fréchet distance
def frechet_distance_from_stats(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)``. The matrix square
    root comes from :func:`scipy.linalg.sqrtm`; when it is not finite (a singular
    product) ``eps`` is added to both diagonals, and the tiny imaginary part that
    round-off leaves is dropped (the usual fix from the reference FID code).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"frechet_distance: the two feature sets have different sizes "
            f"({mu1.shape} vs {mu2.shape}); extract both with the same feature extractor."
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    # round-off can leave -1e-12 for identical sets; a distance is never negative
    return max(value, 0.0)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between two feature sets (``N×D`` arrays), each fitted by a Gaussian."""
    a, b = _as_features(features_a, "features_a"), _as_features(features_b, "features_b")
    require_samples(len(a), "frechet_distance", "features_a")
    require_samples(len(b), "frechet_distance", "features_b")
    return frechet_distance_from_stats(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )


# ----------------------------------------------------------------------------- KID
def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def kid(
    features_a: np.ndarray,
    features_b: np.ndarray,
    n_subsets: int = 50,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance with the cubic polynomial kernel ``(x·y/d + 1)³``.

    The unbiased MMD² estimate is computed on ``n_subsets`` random subsets of
    ``subset_size`` samples drawn from each set (for smaller sets, 80 % of the
    smaller set); returns ``(mean, std)`` over subsets. Same distribution → ≈ 0 (it
    can be slightly negative, which is the point of an unbiased estimator).
    """
    a, b = _as_features(features_a, "features_a"), _as_features(features_b, "features_b")
    require_samples(len(a), "kid", "features_a")
    require_samples(len(b), "kid", "features_b")
    m = int(min(subset_size, len(a), len(b)))
    if m == min(len(a), len(b)) and n_subsets > 1:
        # small sets: draw 80 % subsets so the spread over subsets means something
        m = max(2, int(0.8 * m))
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
        values[i] = (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2.0 * kxy.mean()
        )
    return float(values.mean()), float(values.std())


# ----------------------------------------------------------------------------- distances
def pairwise_distances(x: np.ndarray, y: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Euclidean distance matrix ``len(x) × len(y)`` (float32, computed in chunks)."""
    x = x.reshape(len(x), -1).astype(np.float32)
    y = y.reshape(len(y), -1).astype(np.float32)
    yy = (y.astype(np.float64) ** 2).sum(1)
    out = np.empty((len(x), len(y)), dtype=np.float32)
    for start in range(0, len(x), chunk):
        xs = x[start : start + chunk]
        xx = (xs.astype(np.float64) ** 2).sum(1)
        d2 = xx[:, None] + yy[None, :] - 2.0 * (xs @ y.T).astype(np.float64)
        out[start : start + chunk] = np.sqrt(np.maximum(d2, 0.0))
    return out


def nearest_neighbours(
    queries: np.ndarray,
    references: np.ndarray,
    chunk: int = 512,
    *,
    exclude: np.ndarray | None = None,
    reference_norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For every query the index of and distance to its nearest reference (Euclidean).

    The kit's one nearest-neighbour search (evaluation, memorisation, the
    sampler's "nearest real image" panel). Inputs are flattened, so it works for
    features and raw pixels alike. ``exclude[i]`` is a reference index that
    query ``i`` may not match (leave-one-out: the query's own position in the
    references). ``reference_norms``: precomputed squared norms of the
    references, for repeated searches against the same set. The winners'
    distances are recomputed exactly (the fast expanded form loses precision
    for near-copies).
    """
    q = queries.reshape(len(queries), -1).astype(np.float32)
    r = references.reshape(len(references), -1).astype(np.float32)
    rr = (r.astype(np.float64) ** 2).sum(1) if reference_norms is None else reference_norms
    idx = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        qs = q[start : start + chunk]
        d2 = (qs.astype(np.float64) ** 2).sum(1)[:, None] + rr[None, :] - 2.0 * (qs @ r.T).astype(np.float64)
        if exclude is not None:
            rows = np.arange(len(qs))
            d2[rows, np.asarray(exclude)[start : start + chunk]] = np.inf
        idx[start : start + chunk] = d2.argmin(1)
    dist = np.linalg.norm((r[idx] - q).astype(np.float64), axis=1).astype(np.float32)
    return idx, dist


def _kth_neighbour_radius(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point in the same set."""
    d = pairwise_distances(features, features)
    # column 0 after sorting is the point itself (distance 0)
    return np.partition(d, k, axis=1)[:, k]


# ----------------------------------------------------------------------------- PRDC
def prdc(real_features: np.ndarray, fake_features: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020), k-NN.

    - precision: share of fake samples inside some real sample's k-NN ball
    - recall: share of real samples inside some fake sample's k-NN ball
    - density: how many real balls contain a fake sample, on average, divided by k
      (≈ 1 for matching distributions; > 1 when fakes crowd into dense real regions)
    - coverage: share of real samples whose k-NN ball contains at least one fake
    """
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    require_samples(len(real), "prdc", "real_features", needed=k + 1)
    require_samples(len(fake), "prdc", "fake_features", needed=k + 1)
    real_radius = _kth_neighbour_radius(real, k)
    fake_radius = _kth_neighbour_radius(fake, k)
    d_real_fake = pairwise_distances(real, fake)  # real × fake
    inside_real_balls = d_real_fake <= real_radius[:, None]
    precision = inside_real_balls.any(axis=0).mean()
    recall = (d_real_fake <= fake_radius[None, :]).any(axis=1).mean()
    density = inside_real_balls.sum(axis=0).mean() / k
    coverage = (d_real_fake.min(axis=1) <= real_radius).mean()
    return {
        "precision": float(precision),
        "recall": float(recall),
        "density": float(density),
        "coverage": float(coverage),
    }


# ----------------------------------------------------------------------------- classifier scores
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of correct predictions."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def binary_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC for a 0/1 target via the Mann–Whitney U statistic (ties count ½)."""
    y_true = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("binary_auc needs at least one positive and one negative example.")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks for ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def macro_auc_ovr(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Macro-averaged one-vs-rest ROC AUC over the classes present in ``y_true``.

    ``probabilities`` is ``N × num_classes``; classes with no positive (or no
    negative) example in ``y_true`` are left out of the average.
    """
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities)
    aucs = []
    for c in range(probabilities.shape[1]):
        positives = y_true == c
        if positives.any() and (~positives).any():
            aucs.append(binary_auc(positives, probabilities[:, c]))
    if not aucs:
        return float("nan")
    return float(np.mean(aucs))


# ----------------------------------------------------------------------------- MS-SSIM
#: the first three of the five standard MS-SSIM weights, renormalised to sum to 1
MS_SSIM_POWER_FACTORS = tuple(np.array([0.0448, 0.2856, 0.3001]) / (0.0448 + 0.2856 + 0.3001))
MS_SSIM_FILTER_SIZE = 7


def ms_ssim_pairs(
    images: np.ndarray, n_pairs: int = 200, seed: int = 0, batch_size: int = 128
) -> np.ndarray:
    """MS-SSIM (3 scales, filter 7) of ``n_pairs`` random distinct pairs from ``images``.

    Higher = more alike; a collapsed generator scores ≈ 1. Works from 28 px up
    (the 5-scale default needs ≥ ~160 px).
    """
    import tensorflow as tf

    require_samples(len(images), "ms_ssim", "images")
    size = min(images.shape[1], images.shape[2])
    if size / 4 < MS_SSIM_FILTER_SIZE:
        raise ValueError(
            f"ms_ssim_pairs: images of {size} px are too small for 3-scale MS-SSIM with "
            f"filter size {MS_SSIM_FILTER_SIZE}; use images of at least 28 px."
        )
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(images), n_pairs)
    j = (i + rng.integers(1, len(images), n_pairs)) % len(images)  # j != i
    values = []
    for start in range(0, n_pairs, batch_size):
        a = (images[i[start : start + batch_size]] + 1.0) / 2.0
        b = (images[j[start : start + batch_size]] + 1.0) / 2.0
        v = tf.image.ssim_multiscale(
            tf.constant(a, tf.float32),
            tf.constant(b, tf.float32),
            max_val=1.0,
            power_factors=MS_SSIM_POWER_FACTORS,
            filter_size=MS_SSIM_FILTER_SIZE,
        )
        values.append(np.asarray(v))
    return np.concatenate(values).astype(np.float64)


# ----------------------------------------------------------------------------- helpers
def _as_features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (samples × feature dimensions), got shape {x.shape}. "
            "Reshape it with x.reshape(len(x), -1)."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values; check the images that made them.")
    return x


def pca_2d(*feature_sets: np.ndarray) -> list[np.ndarray]:
    """Project several feature sets into the first two principal axes of their union."""
    stacked = np.concatenate([np.asarray(f, np.float64) for f in feature_sets])
    mean = stacked.mean(0)
    _, _, vt = np.linalg.svd(stacked - mean, full_matrices=False)
    axes = vt[:2].T
    return [(np.asarray(f, np.float64) - mean) @ axes for f in feature_sets]
