"""Checks for the exercises of notebook 04 (training with ``train_step``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from medgan_helpers.exercises._verdict import verdict


def check_hinge_loss(value: float) -> bool:
    """D's hinge loss for real logits [2.0, -0.5] and fake logits [0.5, -3.0]."""
    real, fake = np.array([2.0, -0.5]), np.array([0.5, -3.0])
    expected = np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean()
    try:
        ok = math.isclose(float(value), expected, rel_tol=1e-3)
    except (TypeError, ValueError):
        ok = False
    return verdict(
        ok,
        f"{expected:.2f}: only the real logit below +1 (-0.5 -> 1.5) and the fake logit above -1 "
        "(0.5 -> 1.5) cost anything; confident, correct scores cost 0.",
        "average relu(1 - real) over the real logits, average relu(1 + fake) over the fake ones, "
        "then add the two averages.",
    )


def check_generator_loss(g_loss: Callable) -> bool:
    """Your non-saturating BCE generator loss ``g_loss(fake_logits)`` against the kit's."""
    from medgan_helpers import gan

    logits = np.random.default_rng(0).normal(0, 3, (64, 1)).astype("float32")
    try:
        mine = float(np.asarray(g_loss(logits)))
    except Exception as error:  # a student's function may fail in any way
        return verdict(False, "", f"your function raised {type(error).__name__}: {error}")
    expected = float(gan.g_loss_bce(logits))
    # the original minimax form: minimise log(1 - sigmoid(x)) = -softplus(x) (or its sign flip)
    saturating = float(np.mean(-np.log1p(np.exp(logits))))
    if math.isclose(mine, saturating, rel_tol=1e-3) or math.isclose(mine, -saturating, rel_tol=1e-3):
        return verdict(False, "", "that is the saturating form log(1 - D(G(z))); G should instead "
                       "maximise log D(G(z)), i.e. minimise softplus(-logits).")
    return verdict(
        math.isclose(mine, expected, rel_tol=1e-3, abs_tol=1e-5),
        "the non-saturating loss mean(softplus(-fake_logits)) = -mean(log sigmoid(fake_logits)).",
        "G wants D to say 'real' (label 1) for its fakes: binary cross-entropy with target 1 on "
        "logits is softplus(-logits); average it (keras.ops.softplus / np.log1p(np.exp(-x))).",
    )


def check_ema_after_steps(value: float) -> bool:
    """EMA with decay 0.9, starting at 0, after 10 steps of a weight that stays at 1.0."""
    expected = 1 - 0.9**10
    try:
        ok = math.isclose(float(value), expected, rel_tol=1e-3)
    except (TypeError, ValueError):
        ok = False
    return verdict(
        ok,
        f"{expected:.4f} = 1 - 0.9**10: the average closes 10% of the remaining gap per step, "
        "so it lags the weights it follows — that lag is what smooths G's jitter.",
        "apply ema = 0.9 * ema + 0.1 * 1.0 ten times, starting from ema = 0 (or find the closed form).",
    )


def check_discriminator_updates(n: int) -> bool:
    """D's optimizer steps after one epoch of 75 batches with ``d_steps=2``."""
    return verdict(
        n == 150,
        "150: d_steps=2 means two discriminator updates (each with fresh fakes) per batch, "
        "and still one generator update (75).",
        "count the loop in train_step: how many times does d_optimizer.apply_gradients run per batch?",
    )
