"""Notebook 02's exercise checks accept right answers and reject wrong ones."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers.exercises import nb02
from tests.helpers import assert_checks_reexported, solution_blocks


def test_nb02_checks_are_reexported():
    assert_checks_reexported("02")


# ----------------------------------------------------------------- exercise 1: the size formula
def _transposed_right(input_size, kernel_size, stride, padding):
    if padding == "same":
        return input_size * stride
    return (input_size - 1) * stride + max(kernel_size, stride)


def _transposed_forgets_small_kernels(input_size, kernel_size, stride, padding):
    if padding == "same":
        return input_size * stride
    return (input_size - 1) * stride + kernel_size


def test_nb02_ex1_transposed_output_size_accepts_the_right_formula(capsys):
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
def test_nb02_ex1_transposed_output_size_rejects_wrong_answers(wrong, capsys):
    assert nb02.check_transposed_output_size(wrong) is False
    assert "Not yet" in capsys.readouterr().out


def test_nb02_ex1_reference_sizes_come_from_keras_and_match_the_formula():
    for case in nb02._TRANSPOSED_CASES:
        assert nb02.keras_transposed_output_size(*case) == _transposed_right(*case)


def test_nb02_ex1_reference_sizes_match_real_layer_runs():
    # Only kernel >= stride: the oneDNN CPU kernel is unsafe for kernel < stride.
    for input_size, kernel_size, stride, padding in nb02._TRANSPOSED_CASES:
        if kernel_size < stride:
            continue
        layer = keras.layers.Conv2DTranspose(1, kernel_size, strides=stride, padding=padding)
        out = layer(np.zeros((1, input_size, input_size, 1), dtype="float32"))
        assert out.shape[1] == nb02.keras_transposed_output_size(input_size, kernel_size, stride, padding)


# ----------------------------------------------------------------- exercise 2: a generator for 32 px
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


def test_nb02_ex2_generator_check_accepts_a_32px_generator():
    assert nb02.check_generator_output_shape(_tiny_generator(32)) is True


def test_nb02_ex2_generator_check_accepts_the_kits_32px_generator():
    from medgan_helpers import models

    generator = models.build_generator(image_size=32, channels=1, latent_dim=16)
    assert nb02.check_generator_output_shape(generator, image_size=32) is True
    conditional = models.build_generator(
        image_size=32, channels=1, latent_dim=16, num_classes=4
    )
    assert nb02.check_generator_output_shape(conditional, image_size=32) is True


def test_nb02_ex2_generator_check_rejects_wrong_size_and_non_models(capsys):
    assert nb02.check_generator_output_shape(_tiny_generator(16)) is False
    assert "(16, 16, 1)" in capsys.readouterr().out
    assert nb02.check_generator_output_shape(None) is False
    # The right size but the wrong latent length, when the exercise asks for one.
    assert nb02.check_generator_output_shape(_tiny_generator(32, latent_dim=8), latent_dim=64) is False
    assert nb02.check_generator_output_shape(_tiny_generator(32, latent_dim=64), latent_dim=64) is True
    # A discriminator is not a generator.
    image = keras.Input((32, 32, 1))
    critic = keras.Model(image, keras.layers.Dense(1)(keras.layers.Flatten()(image)))
    assert nb02.check_generator_output_shape(critic) is False
    # A model without tanh can leave [-1, 1].
    z = keras.Input((4,))
    x = keras.layers.Dense(32 * 32, kernel_initializer="ones")(z)
    unbounded = keras.Model(z, keras.layers.Reshape((32, 32, 1))(x))
    assert nb02.check_generator_output_shape(unbounded) is False


# ----------------------------------------------------------------- exercise 3: count the weights
def test_nb02_ex3_conv_transpose_param_count():
    right = 4 * 4 * 128 * 64 + 64
    assert nb02.conv_transpose_param_count(**nb02.PARAM_EXERCISE) == right
    assert nb02.check_conv_transpose_params(right) is True
    assert nb02.check_conv_transpose_params(4 * 4 * 128 * 64) is False  # forgot the biases
    assert nb02.check_conv_transpose_params(4 * 4 * 64 + 64) is False  # forgot input channels
    assert nb02.check_conv_transpose_params(None) is False
    assert nb02.check_conv_transpose_params("lots") is False


# ----------------------------------------------------------------- the notebook's printed solutions pass
def test_nb02_solutions_pass_their_checks():
    from medgan_helpers import models

    blocks = solution_blocks("02_generator.py")
    assert len(blocks) == 2
    namespace = {"np": np, "models": models}
    for block in blocks:
        exec(block, namespace)
    assert nb02.check_transposed_output_size(namespace["transposed_output_size"]) is True
    assert nb02.check_generator_output_shape(namespace["G32"], image_size=32, latent_dim=64) is True
    assert nb02.check_conv_transpose_params(131_136) is True  # the number the prose solution gives
