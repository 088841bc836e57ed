"""The exercise checks of notebooks 02 and 03 accept right answers and reject wrong ones."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers import exercises
from medgan_helpers.exercises import nb02, nb03

# ---------------------------------------------------------------- notebook 02


def _transposed_right(input_size, kernel_size, stride, padding):
    if padding == "same":
        return input_size * stride
    return (input_size - 1) * stride + max(kernel_size, stride)


def _transposed_forgets_small_kernels(input_size, kernel_size, stride, padding):
    if padding == "same":
        return input_size * stride
    return (input_size - 1) * stride + kernel_size


def test_checks_are_reexported_by_the_package():
    for name in (
        "check_transposed_output_size",
        "check_generator_output_shape",
        "check_conv_transpose_params",
        "check_receptive_field",
        "check_largest_singular_value",
        "check_projection_logits",
    ):
        assert callable(getattr(exercises, name)), name


def test_transposed_output_size_accepts_the_right_formula(capsys):
    assert nb02.check_transposed_output_size(_transposed_right) is True
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong",
    [
        _transposed_forgets_small_kernels,
        lambda i, k, s, p: i * s,  # ignores padding
        lambda i, k, s, p: None,  # the unsolved template
        lambda i, k, s, p: 1 / 0,  # crashes
        42,  # not a function
    ],
)
def test_transposed_output_size_rejects_wrong_answers(wrong, capsys):
    assert nb02.check_transposed_output_size(wrong) is False
    assert "Not yet" in capsys.readouterr().out


def test_reference_sizes_come_from_keras_and_match_the_formula():
    for case in nb02._TRANSPOSED_CASES:
        assert nb02.keras_transposed_output_size(*case) == _transposed_right(*case)


def _tiny_generator(image_size: int, latent_dim: int = 8) -> keras.Model:
    """A real (small) DCGAN-style generator, independent of medgan_helpers.models."""
    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(4 * 4 * 8)(z)
    x = keras.layers.Reshape((4, 4, 8))(x)
    size = 4
    while size < image_size:
        x = keras.layers.Conv2DTranspose(8, 4, strides=2, padding="same", activation="relu")(x)
        size *= 2
    image = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x)
    return keras.Model(z, image)


def test_generator_check_accepts_a_32px_generator():
    assert nb02.check_generator_output_shape(_tiny_generator(32)) is True


def test_generator_check_accepts_the_kits_32px_generator():
    from medgan_helpers import models

    generator = models.build_generator(image_size=32, channels=1, latent_dim=16)
    assert nb02.check_generator_output_shape(generator, image_size=32) is True
    conditional = models.build_generator(
        image_size=32, channels=1, latent_dim=16, num_classes=4
    )
    assert nb02.check_generator_output_shape(conditional, image_size=32) is True


def test_generator_check_rejects_wrong_size_and_non_models(capsys):
    assert nb02.check_generator_output_shape(_tiny_generator(16)) is False
    assert "(16, 16, 1)" in capsys.readouterr().out
    assert nb02.check_generator_output_shape(None) is False
    # A model without tanh can leave [-1, 1].
    z = keras.Input((4,))
    x = keras.layers.Dense(32 * 32, kernel_initializer="ones")(z)
    unbounded = keras.Model(z, keras.layers.Reshape((32, 32, 1))(x))
    assert nb02.check_generator_output_shape(unbounded) is False


def test_conv_transpose_param_count():
    right = 4 * 4 * 128 * 64 + 64
    assert nb02.conv_transpose_param_count(**nb02.PARAM_EXERCISE) == right
    assert nb02.check_conv_transpose_params(right) is True
    assert nb02.check_conv_transpose_params(4 * 4 * 128 * 64) is False  # forgot the biases
    assert nb02.check_conv_transpose_params(4 * 4 * 64 + 64) is False  # forgot input channels
    assert nb02.check_conv_transpose_params(None) is False
    assert nb02.check_conv_transpose_params("lots") is False


# ---------------------------------------------------------------- notebook 03


def _empirical_receptive_field(layers) -> int:
    """Measure the receptive field with a real conv stack: which input pixels move the centre output?"""
    size = 1 + sum((k - 1) * int(np.prod([s for _, s in layers[:i]])) for i, (k, _) in enumerate(layers))
    size = 2 * size + 9
    stack = keras.Sequential(
        [keras.Input((size, size, 1))]
        + [keras.layers.Conv2D(1, k, strides=s, padding="valid", kernel_initializer="ones") for k, s in layers]
    )
    import tensorflow as tf

    x = tf.Variable(np.zeros((1, size, size, 1), dtype="float32"))
    with tf.GradientTape() as tape:
        out = stack(x)
        centre = out[0, out.shape[1] // 2, out.shape[2] // 2, 0]
    grad = tape.gradient(centre, x).numpy()[0, :, :, 0]
    rows = np.flatnonzero(np.abs(grad).sum(axis=1) > 0)
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("layers", [list(case) for case in nb03._RF_CASES])
def test_reference_receptive_field_matches_a_measured_one(layers):
    assert nb03.receptive_field(layers) == _empirical_receptive_field(layers)


def test_receptive_field_check(capsys):
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


def _power_iteration(matrix, steps=50):
    v = np.ones(matrix.shape[1])
    for _ in range(steps):
        u = matrix @ v
        u /= np.linalg.norm(u)
        v = matrix.T @ u
        v /= np.linalg.norm(v)
    return float(u @ matrix @ v)


def test_largest_singular_value_check():
    assert nb03.check_largest_singular_value(_power_iteration) is True
    assert nb03.check_largest_singular_value(lambda m: np.abs(m).max()) is False
    assert nb03.check_largest_singular_value(lambda m: np.linalg.norm(m)) is False  # Frobenius
    assert nb03.check_largest_singular_value(lambda m: _power_iteration(m, steps=0) * 0) is False
    assert nb03.check_largest_singular_value(lambda m: "big") is False
    assert nb03.check_largest_singular_value(None) is False


def test_projection_logits_check(capsys):
    def right(features, weight, bias, embeddings, labels):
        return features @ weight + bias + np.einsum("nf,nf->n", embeddings[labels], features)

    assert nb03.check_projection_logits(right) is True
    assert nb03.check_projection_logits(lambda f, w, b, e, y: f @ w + b) is False
    assert "unconditional part" in capsys.readouterr().out
    assert nb03.check_projection_logits(lambda f, w, b, e, y: f @ w + b + (e @ f.T).sum(0)) is False
    assert nb03.check_projection_logits(lambda f, w, b, e, y: np.zeros(3)) is False
    assert nb03.check_projection_logits(lambda *args: 1 / 0) is False
