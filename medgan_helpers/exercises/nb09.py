"""Checks for the exercises of notebook 09 · GAN theory and failure modes.

The theory checks compare the student's function with a reference on several
inputs (and, for the Jensen–Shannon divergence, verify the identity
V(D*) = -log 4 + 2 JSD with it); the gradient check differentiates the kit's own
loss functions with ``tf.GradientTape``. The health-monitor check reads the
stored failure gallery (``docs/gallery/gallery.json``). Each prints a verdict
and returns ``True``/``False``; a wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import verdict


def _kl(a: np.ndarray, b: np.ndarray) -> float:
    mask = a > 0
    return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence of two discrete distributions, in nats (reference)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


def _js_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(9)
    cases = []
    for n in (2, 5, 40):
        a, b = rng.random(n), rng.random(n)
        cases.append((a / a.sum(), b / b.sum()))
    disjoint_p = np.array([0.5, 0.5, 0.0, 0.0])
    cases.append((disjoint_p, disjoint_p[::-1].copy()))  # no overlap: log 2
    cases.append((np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])))  # equal: 0
    sparse = np.array([0.7, 0.0, 0.3, 0.0])
    cases.append((sparse, np.array([0.1, 0.4, 0.1, 0.4])))
    return cases


def check_js_divergence(fn: Callable[[np.ndarray, np.ndarray], Any]) -> bool:
    """Exercise 1: ``fn(p, q)`` is the Jensen–Shannon divergence (natural log)."""
    if not callable(fn):
        return verdict(False, "", f"pass your function itself (got a {type(fn).__name__}).")
    for p, q in _js_cases():
        want = js_divergence(p, q)
        try:
            got = float(fn(p.copy(), q.copy()))
        except Exception as error:  # a student's function may fail in any way
            return verdict(False, "", f"your function raised {type(error).__name__}: {error} for p={p}, q={q}.")
        if not math.isfinite(got):
            return verdict(False, "", f"for p={np.round(p, 3)}, q={np.round(q, 3)} you returned {got}: terms "
                           "with a zero probability contribute 0 (0 log 0 = 0); leave them out.")
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-8):
            if math.isclose(got, want / math.log(2), rel_tol=1e-4, abs_tol=1e-8):
                return verdict(False, "", "that is in bits: use the natural logarithm (np.log).")
            return verdict(False, "", f"for p={np.round(p, 3)}, q={np.round(q, 3)} you returned {got:.4f}. "
                           "JSD = KL(p || m) / 2 + KL(q || m) / 2 with the mixture m = (p + q) / 2.")
    # the identity of section 1.3, with the student's function
    rng = np.random.default_rng(3)
    p, q = rng.random(30), rng.random(30)
    p, q = p / p.sum(), q / q.sum()
    d_star = p / (p + q)
    v_star = float(np.sum(p * np.log(d_star) + q * np.log(1 - d_star)))
    identity = -math.log(4) + 2 * float(fn(p, q))
    return verdict(
        math.isclose(v_star, identity, rel_tol=1e-6, abs_tol=1e-9),
        f"and with your function V(D*) = {v_star:.5f} = -log 4 + 2 JSD = {identity:.5f}. Two distributions "
        f"that do not overlap have JSD = log 2 = {math.log(2):.4f}, however far apart they are.",
        "your function matches on the test pairs but not in the identity V(D*) = -log 4 + 2 JSD.",
    )


def check_generator_gradients(fn: Callable[[float], Any]) -> bool:
    """Exercise 2: ``fn(logit) -> (d saturating / d logit, d non-saturating / d logit)``."""
    import tensorflow as tf

    from medgan_helpers import losses

    if not callable(fn):
        return verdict(False, "", f"pass your function itself (got a {type(fn).__name__}).")
    for logit in (-10.0, -3.0, -0.5, 0.0, 2.0, 7.0):
        x = tf.Variable([[logit]], dtype=tf.float32)
        want = []
        for loss_fn in (losses.g_loss_saturating, losses.g_loss_bce):
            with tf.GradientTape() as tape:
                value = loss_fn(x)
            want.append(float(tape.gradient(value, x).numpy()[0, 0]))
        try:
            got = tuple(float(v) for v in fn(logit))
        except Exception as error:  # a student's function may fail in any way
            return verdict(False, "", f"return two numbers; your function gave {type(error).__name__}: {error}.")
        if len(got) != 2:
            return verdict(False, "", "return a pair: (saturating gradient, non-saturating gradient).")
        close = [math.isclose(g, w, rel_tol=1e-3, abs_tol=1e-7) for g, w in zip(got, want)]
        if not all(close):
            if all(math.isclose(-g, w, rel_tol=1e-3, abs_tol=1e-7) for g, w in zip(got, want)):
                return verdict(False, "", "the signs are flipped: both losses fall as the logit rises, so "
                               "both derivatives are negative.")
            which = "saturating" if not close[0] else "non-saturating"
            return verdict(False, "", f"at logit {logit:g} your {which} gradient is {got[close.index(False)]:.4g}. "
                           "Differentiate with the chain rule and sigma'(l) = sigma(l) * (1 - sigma(l)).")
    return verdict(True, f"at logit -10 the saturating loss gives {want_at(-10)[0]:.2e}, the non-saturating "
                   f"{want_at(-10)[1]:.3f}: the same direction, 22,000 times the strength.", "")


def want_at(logit: float) -> tuple[float, float]:
    """The two exact derivatives at ``logit`` (saturating, non-saturating)."""
    s = 1.0 / (1.0 + math.exp(-logit))
    return -s, -(1.0 - s)


#: The three gallery cases of exercise 3, in the order they are shown (A, B, C).
MYSTERY_CASES = ("collapse", "saturating", "no-sn-strong-d")


def health_mystery(gallery: dict) -> dict[str, dict]:
    """A mid-run health record of three gallery cases under the letters A, B, C (names hidden).

    The middle epoch, not the last: the notebook prints every case's last reading in a named table,
    so the last reading could be looked up instead of read.
    """
    hidden = {}
    for letter, case in zip("ABC", MYSTERY_CASES):
        records = gallery["cases"][case]["records"]
        hidden[letter] = dict(records[(len(records) - 1) // 2])
    return hidden


def check_health_mystery(answer: dict, gallery: dict) -> bool:
    """Exercise 3: which gallery case produced which of the three hidden health readings?"""
    known = sorted(gallery["cases"])
    if not isinstance(answer, dict) or set(answer) != {"A", "B", "C"}:
        return verdict(False, "", 'answer with a dict {"A": ..., "B": ..., "C": ...}.')
    unknown = [v for v in answer.values() if v not in known]
    if unknown:
        return verdict(False, "", f"{unknown} are not gallery cases; use one of {known}.")
    right = [letter for letter, case in zip("ABC", MYSTERY_CASES) if answer[letter] == case]
    if len(right) == 3:
        return verdict(True, "A is the collapse (D calls every image real, its hinge loss stuck at 2, G's gradient "
                       "near zero and the lowest class at about half the real variety), B the saturating G loss (D "
                       "right on almost every real and fake image, its loss near 0), C the strong D without spectral "
                       "norm (D right on most images, G's gradient several times the baseline's).", "")
    wrong = [letter for letter in "ABC" if letter not in right]
    return verdict(False, "", f"{len(right)} of 3 right; look again at {', '.join(wrong)}: which reading has D "
                   "calling every image real while G's gradient is near zero and a class loses half its variety, "
                   "which one D right on almost every image with its loss near 0, and which one D right on most "
                   "images with a G gradient far larger than the baseline's?")
