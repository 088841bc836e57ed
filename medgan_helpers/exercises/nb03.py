"""Checks for the exercises of notebook 03 · The discriminator.

Every check runs the student's function on several inputs and compares it with a
reference computed here (NumPy's SVD for singular values, the layer-by-layer
recursion for receptive fields, the projection formula for conditional logits).
It prints a verdict and returns ``True``/``False``; a wrong answer gets a hint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medgan_helpers.exercises import nb02
from medgan_helpers.exercises._verdict import verdict

# Stacks of (kernel_size, stride), first layer first.
_RF_CASES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 1),),
    ((3, 1), (3, 1)),
    ((4, 2), (4, 2)),
    ((4, 2), (4, 2), (4, 2), (4, 2)),
    ((3, 1), (4, 2), (3, 1), (4, 2)),
    ((5, 2), (3, 1), (3, 3)),
    ((1, 2), (1, 2), (3, 1)),
)


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (in input pixels) of a stack of convolutions.

    ``layers`` lists ``(kernel_size, stride)`` from the input onwards. Each layer
    widens the field by ``(kernel_size - 1)`` times the product of the strides
    before it (its "jump": how many input pixels one of its steps moves).
    """
    field, jump = 1, 1
    for kernel_size, stride in layers:
        field += (kernel_size - 1) * jump
        jump *= stride
    return field


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], Any]) -> bool:
    """Check ``fn(layers) -> int`` where ``layers`` is a list of ``(kernel_size, stride)``."""
    if not callable(fn):
        return verdict(
            False, "", f"pass your function itself (got a {type(fn).__name__})."
        )
    for case in _RF_CASES:
        layers = [tuple(layer) for layer in case]
        expected = receptive_field(layers)
        try:
            got = fn(list(layers))
        except Exception as error:  # the student's code, any error is a hint
            return verdict(
                False, "", f"your function raised {type(error).__name__}: {error} for {layers}."
            )
        if not nb02._is_whole_number(got) or int(got) != expected:
            return verdict(
                False,
                "",
                f"for layers={layers} you returned {got!r}. Start from 1 pixel; each layer adds "
                "(kernel_size - 1) × jump, where jump is the product of all EARLIER strides.",
            )
    return verdict(True, f"right on all {len(_RF_CASES)} stacks of layers.", "")


def check_largest_singular_value(fn: Callable[[np.ndarray], Any]) -> bool:
    """Check ``fn(W) -> float`` (e.g. power iteration) against ``np.linalg.svd`` (1 % tolerance)."""
    if not callable(fn):
        return verdict(
            False, "", f"pass your function itself (got a {type(fn).__name__})."
        )
    rng = np.random.default_rng(3)
    shapes = ((8, 8), (20, 5), (5, 20), (48, 16))
    for shape in shapes:
        matrix = rng.standard_normal(shape).astype("float64")
        expected = float(np.linalg.svd(matrix, compute_uv=False)[0])
        try:
            got = fn(matrix.copy())
        except Exception as error:  # the student's code, any error is a hint
            return verdict(
                False, "", f"your function raised {type(error).__name__}: {error} on a {shape} matrix."
            )
        try:
            got_value = float(np.asarray(got).reshape(()))
        except (TypeError, ValueError):
            return verdict(False, "", f"return one number (got {type(got).__name__}).")
        if not np.isfinite(got_value) or abs(got_value - expected) > 0.01 * expected:
            return verdict(
                False,
                "",
                f"on a {shape} matrix you returned {got_value:.4g}, NumPy's SVD says "
                f"{expected:.4g}. Alternate v = Wᵀu/‖Wᵀu‖ and u = Wv/‖Wv‖ a few dozen times, "
                "then σ ≈ uᵀWv.",
            )
    return verdict(True, f"matches NumPy's SVD on {len(shapes)} random matrices.", "")


def projection_logits(
    features: np.ndarray,
    weight: np.ndarray,
    bias: float,
    embeddings: np.ndarray,
    labels: np.ndarray,
) -> np.ndarray:
    """Projection-discriminator logits: ``features·weight + bias + <embeddings[label], features>``."""
    features = np.asarray(features, dtype="float64")
    return (
        features @ np.asarray(weight, dtype="float64")
        + float(bias)
        + np.sum(np.asarray(embeddings, dtype="float64")[np.asarray(labels)] * features, axis=1)
    )


def check_projection_logits(fn: Callable[..., Any]) -> bool:
    """Check ``fn(features, weight, bias, embeddings, labels) -> logits of shape (N,)``.

    ``features`` N×F, ``weight`` (F,), ``bias`` a number, ``embeddings`` C×F
    (one row per class), ``labels`` int (N,).
    """
    if not callable(fn):
        return verdict(
            False, "", f"pass your function itself (got a {type(fn).__name__})."
        )
    rng = np.random.default_rng(7)
    n, f, c = 6, 5, 4
    features = rng.standard_normal((n, f))
    weight = rng.standard_normal(f)
    bias = 0.3
    embeddings = rng.standard_normal((c, f))
    labels = np.array([0, 1, 2, 3, 1, 0])
    expected = projection_logits(features, weight, bias, embeddings, labels)
    try:
        got = np.asarray(fn(features, weight, bias, embeddings, labels), dtype="float64")
    except Exception as error:  # the student's code, any error is a hint
        return verdict(False, "", f"your function raised {type(error).__name__}: {error}.")
    if got.size != n:
        return verdict(
            False, "", f"return one logit per image: shape ({n},), got {got.shape}."
        )
    got = got.reshape(n)
    if np.allclose(got, expected, atol=1e-6):
        return verdict(
            True,
            "the class enters as an inner product between its embedding and the image features.",
            "",
        )
    unconditional = features @ weight + bias
    if np.allclose(got, unconditional, atol=1e-6):
        return verdict(
            False, "", "that is the unconditional part only; add <embeddings[label], features>."
        )
    return verdict(
        False,
        "",
        "start from the unconditional logit (features · weight + bias), then for each image pick "
        "the embedding row of ITS label and add its inner product with that image's features.",
    )
