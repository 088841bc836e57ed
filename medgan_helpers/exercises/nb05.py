"""Checks for the exercises of notebook 05 · Evaluation.

Each check runs the student's function on cases whose answer the kit's own
metric code (``medgan_helpers.evaluation``) computes, prints a verdict and
returns ``True``/``False``. A wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import verdict

# (mu1, sigma1, mu2, sigma2) — means and standard deviations of two 1-D Gaussians
_FD_CASES = ((0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 3.0, 1.0), (1.0, 2.0, -1.0, 0.5), (0.5, 0.1, 0.5, 3.0))


def _number(value: Any) -> float | None:
    try:
        out = float(np.asarray(value).item())
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def check_frechet_1d(fn: Callable[[float, float, float, float], Any]) -> bool:
    """Check ``fn(mu1, sigma1, mu2, sigma2)``: the Fréchet distance of two 1-D Gaussians.

    ``sigma`` is the standard deviation (not the variance).
    """
    from medgan_helpers import evaluation

    if not callable(fn):
        return verdict(False, "", "pass your function itself, e.g. check_frechet_1d(frechet_1d).")
    for mu1, s1, mu2, s2 in _FD_CASES:
        expected = evaluation.frechet_distance_from_stats(
            np.array([mu1]), np.array([[s1**2]]), np.array([mu2]), np.array([[s2**2]])
        )
        try:
            got = _number(fn(mu1, s1, mu2, s2))
        except Exception as err:  # noqa: BLE001 — report any student error as a hint
            return verdict(False, "", f"your function raised {type(err).__name__}: {err}")
        if got is None or not np.isclose(got, expected, atol=1e-6):
            hint = (
                "two identical Gaussians must give 0."
                if (mu1, s1) == (mu2, s2)
                else f"for mu1={mu1}, sigma1={s1}, mu2={mu2}, sigma2={s2} you returned {got}. "
                "Remember the covariance term uses variances (sigma²) and the matrix square "
                "root of sigma1²·sigma2² is sigma1·sigma2."
            )
            return verdict(False, "", hint)
    return verdict(
        True,
        "in 1-D the Fréchet distance is (mu1 − mu2)² + (sigma1 − sigma2)²: "
        "a shift of the mean and a change of spread both cost.",
        "",
    )


def check_auc(fn: Callable[[np.ndarray, np.ndarray], Any]) -> bool:
    """Check ``fn(y_true, scores)``: ROC AUC = P(random positive scores higher than a random negative)."""
    from medgan_helpers import evaluation

    if not callable(fn):
        return verdict(False, "", "pass your function itself, e.g. check_auc(auc).")
    rng = np.random.default_rng(5)
    cases = [
        (np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])),
        (np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.2, 0.9])),  # a tie
        (np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])),  # perfect
    ]
    y = rng.integers(0, 2, 60)
    y[:2] = [0, 1]
    cases.append((y, np.round(rng.random(60) + 0.3 * y, 1)))  # many ties
    for y_true, scores in cases:
        expected = evaluation.binary_auc(y_true, scores)
        try:
            got = _number(fn(y_true.copy(), scores.copy()))
        except Exception as err:  # noqa: BLE001
            return verdict(False, "", f"your function raised {type(err).__name__}: {err}")
        if got is None or not np.isclose(got, expected, atol=1e-9):
            tie = len(np.unique(scores)) < len(scores)
            hint = (
                "compare every positive with every negative; a tie counts one half."
                if tie
                else "count the (positive, negative) pairs where the positive scores higher, "
                "and divide by the number of pairs."
            )
            return verdict(False, "", f"{hint} (got {got}, expected a value between 0 and 1)")
    return verdict(True, "AUC is a pair-counting statistic: 0.5 = guessing, 1 = perfect ranking.", "")


def check_possible_copies(fn: Callable[[np.ndarray, np.ndarray], Any]) -> bool:
    """Check ``fn(fake_to_train, train_to_rest)``: the fraction of "possible copies".

    A generated image is a possible copy when its nearest-train distance is at most
    the 1st percentile of the train images' leave-one-out distances to the rest of
    train (the generator's target distribution, so ~1 % are flagged by chance).
    """
    if not callable(fn):
        return verdict(False, "", "pass your function itself, e.g. check_possible_copies(possible_copies).")
    rng = np.random.default_rng(11)
    train_d = rng.gamma(4.0, 0.05, 500)
    cases = [
        (rng.gamma(4.0, 0.05, 300), train_d),
        (np.concatenate([np.zeros(30), rng.gamma(4.0, 0.05, 270)]), train_d),  # 10 % exact copies
        (train_d[:100].copy(), train_d),
    ]
    for fake_d, t in cases:
        expected = float(np.mean(fake_d <= np.percentile(t, 1.0)))
        try:
            got = _number(fn(fake_d.copy(), t.copy()))
        except Exception as err:  # noqa: BLE001
            return verdict(False, "", f"your function raised {type(err).__name__}: {err}")
        if got is None or not np.isclose(got, expected, atol=1e-9):
            hint = "return a fraction between 0 and 1, not a count." if got is not None and got > 1 else (
                "the threshold is np.percentile(train_to_rest, 1) — the 1st percentile, "
                "not the minimum or the 1 % quantile of the generated distances; count distances <= it."
            )
            return verdict(False, "", hint)
    return verdict(
        True,
        "a sample closer to a training image than 99 % of genuinely new real images are "
        "is worth a look — it is a flag, not a proof of copying.",
        "",
    )
