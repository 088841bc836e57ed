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


def test_reference_sizes_match_real_layer_runs():
    # Only kernel >= stride: the oneDNN CPU kernel is unsafe for kernel < stride.
    for input_size, kernel_size, stride, padding in nb02._TRANSPOSED_CASES:
        if kernel_size < stride:
            continue
        layer = keras.layers.Conv2DTranspose(1, kernel_size, strides=stride, padding=padding)
        out = layer(np.zeros((1, input_size, input_size, 1), dtype="float32"))
        assert out.shape[1] == nb02.keras_transposed_output_size(input_size, kernel_size, stride, padding)


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


# ------------------------------------------ the notebooks' printed solutions pass

def _solution_blocks(source_name: str) -> list[str]:
    """The ```python blocks inside the <details> solutions of a notebook source."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "notebooks" / "src" / source_name).read_text()
    markdown = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines())
    blocks = []
    for details in re.findall(r"<details><summary>Solution</summary>(.*?)</details>", markdown, re.S):
        blocks += re.findall(r"```python\n(.*?)```", details, re.S)
    return blocks


def test_notebook_02_solutions_pass_their_checks():
    from medgan_helpers import models

    blocks = _solution_blocks("02_generator.py")
    assert len(blocks) == 2
    namespace = {"np": np, "models": models}
    for block in blocks:
        exec(block, namespace)
    assert nb02.check_transposed_output_size(namespace["transposed_output_size"]) is True
    assert nb02.check_generator_output_shape(namespace["G32"], image_size=32, latent_dim=64) is True
    assert nb02.check_conv_transpose_params(131_136) is True  # the number the prose solution gives


def test_notebook_03_solutions_pass_their_checks():
    blocks = _solution_blocks("03_discriminator.py")
    assert len(blocks) == 3
    namespace = {"np": np}
    for block in blocks:
        exec(block, namespace)
    assert nb03.check_receptive_field(namespace["receptive_field"]) is True
    assert namespace["receptive_field"]([(4, 2)] * 5) == 94  # the number the solution quotes
    assert nb03.check_largest_singular_value(namespace["largest_singular_value"]) is True
    assert nb03.check_projection_logits(namespace["projection_logits"]) is True
