"""Checks for the exercises of notebook 02 · The generator.

Every check compares the student's answer with what Keras itself computes (a
real layer or a real model is built and run), prints a verdict and returns
``True``/``False``. A wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medgan_helpers.exercises._verdict import verdict

# (input_size, kernel_size, stride, padding): cases the size formula must get right,
# including a kernel smaller than the stride with "valid" padding (the tricky one).
_TRANSPOSED_CASES: tuple[tuple[int, int, int, str], ...] = (
    (2, 3, 2, "valid"),
    (2, 4, 2, "same"),
    (4, 4, 2, "valid"),
    (4, 5, 2, "valid"),
    (7, 3, 1, "valid"),
    (7, 3, 1, "same"),
    (8, 4, 2, "same"),
    (5, 3, 3, "same"),
    (3, 1, 2, "valid"),
    (6, 2, 3, "valid"),
)

# The layer whose parameters exercise 3 counts.
PARAM_EXERCISE = {"filters": 64, "kernel_size": 4, "in_channels": 128, "use_bias": True}


def _is_whole_number(value: Any) -> bool:
    """True for ints and integral floats (NumPy ones too), False for str, bool, None, arrays."""
    if isinstance(value, bool | str | bytes) or not isinstance(value, int | float | np.number):
        return False
    return bool(np.isfinite(value)) and float(value) == int(value)


def keras_transposed_output_size(input_size: int, kernel_size: int, stride: int, padding: str) -> int:
    """Output height/width of a ``keras.layers.Conv2DTranspose`` on a square input.

    Asked from Keras itself (``compute_output_shape``), not from our own formula. The
    layer is not run: TensorFlow's oneDNN kernel for a transposed convolution whose
    kernel is smaller than its stride intermittently corrupts memory on CPU
    (TF 2.21), and the check must never crash a student's kernel.
    """
    import keras

    layer = keras.layers.Conv2DTranspose(
        filters=1, kernel_size=kernel_size, strides=stride, padding=padding
    )
    return int(layer.compute_output_shape((1, input_size, input_size, 1))[1])


def check_transposed_output_size(fn: Callable[[int, int, int, str], Any]) -> bool:
    """Check ``fn(input_size, kernel_size, stride, padding) -> int`` against Keras.

    ``padding`` is ``"same"`` or ``"valid"``; there is no ``output_padding``.
    """
    if not callable(fn):
        return verdict(
            False,
            "",
            f"pass your function itself (got a {type(fn).__name__}), e.g. "
            "check_transposed_output_size(transposed_output_size).",
        )
    for input_size, kernel_size, stride, padding in _TRANSPOSED_CASES:
        expected = keras_transposed_output_size(input_size, kernel_size, stride, padding)
        try:
            got = fn(input_size, kernel_size, stride, padding)
        except Exception as error:  # the student's code, any error is a hint
            return verdict(
                False,
                "",
                f"your function raised {type(error).__name__}: {error} for "
                f"input_size={input_size}, kernel_size={kernel_size}, stride={stride}, "
                f"padding={padding!r}.",
            )
        if not _is_whole_number(got) or int(got) != expected:
            tip = (
                "With padding='same' Keras makes the output exactly stride times larger."
                if padding == "same"
                else "With padding='valid' every input pixel 'stamps' a kernel-sized patch, "
                "stride pixels apart: the last stamp starts at (input_size - 1) * stride. "
                "What if the kernel is smaller than the stride?"
            )
            return verdict(
                False,
                "",
                f"for input_size={input_size}, kernel_size={kernel_size}, stride={stride}, "
                f"padding={padding!r} your function returned {got!r}; Keras says otherwise. {tip}",
            )
    return verdict(
        True,
        f"your formula matches Keras on all {len(_TRANSPOSED_CASES)} cases.",
        "",
    )


def check_generator_output_shape(
    model: Any, image_size: int = 32, channels: int = 1, latent_dim: int | None = None
) -> bool:
    """Check that ``model`` is a generator that really makes ``image_size`` px images.

    The model is run on two latent vectors (and labels 0, 1 when it is conditional);
    the output must be ``(2, image_size, image_size, channels)`` with values in [-1, 1].
    With ``latent_dim`` given, the model's ``z`` input must have that length.
    """
    import keras

    if not isinstance(model, keras.Model):
        return verdict(
            False,
            "",
            f"expected a Keras model (got {type(model).__name__}); build one with "
            "models.build_generator(image_size=..., ...).",
        )
    inputs = model.inputs
    if len(inputs[0].shape) != 2:
        return verdict(
            False,
            "",
            f"the model's first input has shape {tuple(inputs[0].shape)}, but a generator takes "
            "a latent vector of shape (None, latent_dim). Is this a discriminator?",
        )
    model_latent_dim = int(inputs[0].shape[-1])
    if latent_dim is not None and model_latent_dim != latent_dim:
        return verdict(
            False,
            "",
            f"the model takes latent vectors of {model_latent_dim} numbers; the exercise asks for "
            f"{latent_dim} (the latent_dim argument).",
        )
    rng = np.random.default_rng(0)
    feed: list[np.ndarray] = [rng.standard_normal((2, model_latent_dim)).astype("float32")]
    if len(inputs) > 1:
        feed.append(np.array([[0], [1]], dtype="int32"))
    try:
        out = np.asarray(model(feed if len(feed) > 1 else feed[0], training=False))
    except Exception as error:  # the student's model, any error is a hint
        return verdict(
            False, "", f"running the model on latent vectors failed: {type(error).__name__}: {error}"
        )
    want = (2, image_size, image_size, channels)
    if out.shape != want:
        return verdict(
            False,
            "",
            f"your model makes images of shape {out.shape[1:]} but {want[1:]} was asked for; "
            "which argument of models.build_generator sets the image size?",
        )
    if out.min() < -1.0 - 1e-6 or out.max() > 1.0 + 1e-6:
        return verdict(
            False, "", "the outputs leave [-1, 1]; a generator for this kit ends in tanh."
        )
    return verdict(
        True,
        f"it turns a {model_latent_dim}-number latent vector into a {image_size}×{image_size}×"
        f"{channels} image in [-1, 1].",
        "",
    )


def conv_transpose_param_count(
    filters: int, kernel_size: int, in_channels: int, use_bias: bool = True
) -> int:
    """Parameters of a real ``Conv2DTranspose`` layer, counted by Keras after building it."""
    import keras

    layer = keras.layers.Conv2DTranspose(
        filters=filters, kernel_size=kernel_size, strides=2, padding="same", use_bias=use_bias
    )
    layer.build((None, 4, 4, in_channels))
    return int(layer.count_params())


def check_conv_transpose_params(answer: Any) -> bool:
    """Check the parameter count of ``Conv2DTranspose(64, 4)`` applied to 128 channels (with bias)."""
    expected = conv_transpose_param_count(**PARAM_EXERCISE)
    if not _is_whole_number(answer):
        return verdict(
            False, "", "answer with a single whole number (you can write it as a product)."
        )
    if int(answer) == expected:
        return verdict(
            True,
            f"{expected:,} = 4·4 kernel × 128 input channels × 64 filters + 64 biases.",
            "",
        )
    no_bias = expected - PARAM_EXERCISE["filters"]
    if int(answer) == no_bias:
        return verdict(False, "", "close — each of the 64 filters also has one bias.")
    return verdict(
        False,
        "",
        "each filter has a kernel_size × kernel_size weight for EVERY input channel, plus one "
        "bias; the stride does not change the count.",
    )
