"""Notebook 03's exercise checks accept right answers and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from medgan_helpers.exercises import nb03
from tests.helpers import assert_checks_reexported, solution_blocks


def test_nb03_checks_are_reexported():
    assert_checks_reexported("03")


# ----------------------------------------------------------------- exercise 1: a receptive-field function
def _empirical_receptive_field(layers) -> int:
    """Measure the receptive field: which input pixels can move the centre output?

    One axis suffices (square kernels and strides). A real strided "valid"
    convolution with an all-ones kernel is run on one-pixel impulses, in NumPy:
    TensorFlow's oneDNN kernels for kernel < stride intermittently corrupt memory
    on CPU (TF 2.21), and ``_RF_CASES`` contains such a stack on purpose.
    """

    def conv(signal, kernel_size, stride):
        count = (len(signal) - kernel_size) // stride + 1
        return np.array([signal[i * stride : i * stride + kernel_size].sum() for i in range(count)])

    size = 4 * nb03.receptive_field(layers) + 9  # big enough, and measured independently below
    influencing = []
    for position in range(size):
        signal = np.zeros(size)
        signal[position] = 1.0
        for kernel_size, stride in layers:
            signal = conv(signal, kernel_size, stride)
        if signal[len(signal) // 2] != 0:
            influencing.append(position)
    return max(influencing) - min(influencing) + 1


@pytest.mark.parametrize("layers", [list(case) for case in nb03._RF_CASES])
def test_nb03_ex1_reference_receptive_field_matches_a_measured_one(layers):
    assert nb03.receptive_field(layers) == _empirical_receptive_field(layers)


def test_nb03_ex1_receptive_field_check(capsys):
    assert nb03.check_receptive_field(nb03.receptive_field) is True
    sum_of_kernels = lambda layers: sum(k for k, _ in layers) - len(layers) + 1  # noqa: E731
    assert nb03.check_receptive_field(sum_of_kernels) is False  # ignores strides

    def uses_own_stride(layers):  # multiplies by the stride of the layer itself
        field, jump = 1, 1
        for k, s in layers:
            jump *= s
            field += (k - 1) * jump
        return field

    assert nb03.check_receptive_field(uses_own_stride) is False
    assert nb03.check_receptive_field(lambda layers: None) is False
    assert nb03.check_receptive_field("17") is False
    assert "Not yet" in capsys.readouterr().out


# ----------------------------------------------------------------- exercise 2: power iteration
def _power_iteration(matrix, steps=50):
    v = np.ones(matrix.shape[1])
    for _ in range(steps):
        u = matrix @ v
        u /= np.linalg.norm(u)
        v = matrix.T @ u
        v /= np.linalg.norm(v)
    return float(u @ matrix @ v)


def test_nb03_ex2_largest_singular_value_check():
    assert nb03.check_largest_singular_value(_power_iteration) is True
    assert nb03.check_largest_singular_value(lambda m: np.abs(m).max()) is False
    assert nb03.check_largest_singular_value(lambda m: np.linalg.norm(m)) is False  # Frobenius
    assert nb03.check_largest_singular_value(lambda m: _power_iteration(m, steps=0) * 0) is False
    assert nb03.check_largest_singular_value(lambda m: "big") is False
    assert nb03.check_largest_singular_value(None) is False


# ----------------------------------------------------------------- exercise 3: the projection logit
def test_nb03_ex3_projection_logits_check(capsys):
    def right(features, weight, bias, embeddings, labels):
        return features @ weight + bias + np.einsum("nf,nf->n", embeddings[labels], features)

    assert nb03.check_projection_logits(right) is True
    assert nb03.check_projection_logits(lambda f, w, b, e, y: f @ w + b) is False
    assert "unconditional part" in capsys.readouterr().out
    assert nb03.check_projection_logits(lambda f, w, b, e, y: f @ w + b + (e @ f.T).sum(0)) is False
    assert nb03.check_projection_logits(lambda f, w, b, e, y: np.zeros(3)) is False
    assert nb03.check_projection_logits(lambda *args: 1 / 0) is False


# ----------------------------------------------------------------- the notebook's printed solutions pass
def test_nb03_solutions_pass_their_checks():
    blocks = solution_blocks("03_discriminator.py")
    assert len(blocks) == 3
    namespace = {"np": np}
    for block in blocks:
        exec(block, namespace)
    assert nb03.check_receptive_field(namespace["receptive_field"]) is True
    assert namespace["receptive_field"]([(4, 2)] * 5) == 94  # the number the solution quotes
    assert nb03.check_largest_singular_value(namespace["largest_singular_value"]) is True
    assert nb03.check_projection_logits(namespace["projection_logits"]) is True
