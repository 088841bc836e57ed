"""Checks for notebook 06 (interactive sampling): slerp, nearest real image, diversity."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from medgan_helpers.exercises._verdict import verdict


def _reference_slerp(z0: np.ndarray, z1: np.ndarray, t: float) -> np.ndarray:
    from medgan_helpers import sampling

    return sampling.slerp(z0, z1, t)


def check_slerp(fn: Callable[[np.ndarray, np.ndarray, float], np.ndarray]) -> bool:
    """Exercise 1: ``fn(z0, z1, t)`` must interpolate spherically (as ``sampling.slerp``).

    Tested on random latent vectors of different lengths at t = 0, 0.25, 0.5, 1.
    """
    rng = np.random.default_rng(6)
    z0, z1 = rng.standard_normal(128), 1.3 * rng.standard_normal(128)
    try:
        results = {t: np.asarray(fn(z0.copy(), z1.copy(), t), dtype=np.float64) for t in (0.0, 0.25, 0.5, 1.0)}
    except Exception as error:  # a student's function may fail in any way
        return verdict(False, "", f"your function raised {type(error).__name__}: {error}")
    if any(r.shape != z0.shape for r in results.values()):
        return verdict(False, "", f"return one vector of shape {z0.shape} for a scalar t.")
    if not (np.allclose(results[0.0], z0, atol=1e-4) and np.allclose(results[1.0], z1, atol=1e-4)):
        return verdict(False, "", "t=0 must give z0 and t=1 must give z1.")
    linear = 0.5 * z0 + 0.5 * z1
    if np.allclose(results[0.5], linear, atol=1e-3):
        return verdict(
            False, "", "that is a straight line (lerp); walk along the circle: use the angle "
            "omega = arccos(u0·u1) between the unit vectors and sin((1-t)·omega), sin(t·omega)."
        )
    ok = all(np.allclose(results[t], _reference_slerp(z0, z1, t), atol=1e-3) for t in (0.25, 0.5))
    return verdict(
        ok,
        "your path keeps a typical latent length all the way, like sampling.slerp.",
        "interpolate the *directions* on the great circle and the *lengths* linearly: "
        "(1-t)·|z0| + t·|z1|.",
    )


def check_nearest_real(fn: Callable[[np.ndarray, np.ndarray], tuple[int, float]]) -> bool:
    """Exercise 2: ``fn(sample, reals)`` -> (index of the nearest real image, its L2 distance)."""
    rng = np.random.default_rng(60)
    reals = rng.uniform(-1, 1, (200, 16, 16, 1)).astype(np.float32)
    sample = np.clip(reals[137] + rng.normal(0, 0.2, reals[137].shape), -1, 1).astype(np.float32)
    flat = reals.reshape(len(reals), -1)
    distances = np.linalg.norm(flat - sample.reshape(1, -1), axis=1)
    try:
        index, distance = fn(sample, reals)
    except Exception as error:
        return verdict(False, "", f"your function raised {type(error).__name__}: {error}")
    if int(index) != int(np.argmin(distances)):
        return verdict(False, "", "take the argmin of the distances over *all* real images (flatten each image).")
    ok = np.isclose(float(distance), float(distances.min()), rtol=1e-3)
    squared = np.isclose(float(distance), float(distances.min() ** 2), rtol=1e-3)
    return verdict(
        ok,
        "that is exactly what the sampler's nearest-real panel computes.",
        "the index is right; return the Euclidean distance (the square root of the sum of "
        "squared pixel differences)" + (" — you returned the squared distance." if squared else "."),
    )


def check_diversity(fn: Callable[[np.ndarray], float]) -> bool:
    """Exercise 3: ``fn(images)`` -> mean L2 distance over all pairs of *different* images."""
    rng = np.random.default_rng(66)
    images = rng.uniform(-1, 1, (12, 8, 8, 1)).astype(np.float32)
    flat = images.reshape(len(images), -1).astype(np.float64)
    pairwise = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    expected = pairwise[np.triu_indices(len(images), k=1)].mean()
    with_diagonal = pairwise.mean()
    try:
        value = float(fn(images))
    except Exception as error:
        return verdict(False, "", f"your function raised {type(error).__name__}: {error}")
    if np.isclose(value, with_diagonal, rtol=1e-3):
        return verdict(False, "", "leave out the pairs of an image with itself (distance 0).")
    return verdict(
        np.isclose(value, expected, rtol=1e-3),
        "identical images score 0, and more varied samples score higher.",
        "flatten each image, compute the Euclidean distance for every pair i < j, then average.",
    )
