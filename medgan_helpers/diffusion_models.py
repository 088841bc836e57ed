"""The denoiser of the diffusion model: a small U-Net that sees the time and the class.

``build_denoiser`` returns a Keras functional model with three inputs, a noisy
image ``x_t``, its time ``t / T`` in (0, 1] and a class id, and one output: its
estimate of the noise that was added (same shape as the image). It is the
network of ``diffusion.Diffusion`` (notebook 10), built like the pix2pix U-Net
(``pix2pix_models``: halve the resolution down to a 4×4 bottleneck, double it
back, a skip connection at each size) with what a denoiser needs on top:

- **a sinusoidal time embedding** (:class:`SinusoidalEmbedding`, Vaswani et al.
  2017 / Ho et al. 2020) followed by a small MLP: the same network denoises at
  every noise level, so it must be told which one;
- **a class embedding** added to it, with one extra row, the *null class*
  (index ``num_classes``): the unconditional prediction that classifier-free
  guidance needs (Ho & Salimans 2022). An unconditional denoiser has only the
  null class;
- **time-conditioned residual blocks** (:func:`residual_block`): group norm →
  swish → 3×3 conv, plus a per-channel shift computed from the embedding, twice,
  with a 1×1 projection on the skip when the width changes.

No attention layers: at 16–64 px on a CPU budget they cost more than they give
(an honest simplification of the DDPM U-Net). Every layer is a stock Keras
layer or the registered :class:`SinusoidalEmbedding`, the output computes in
float32 (ready for ``mixed_float16``), and the build arguments are recorded
(``models.record_build_settings``) so a run folder rebuilds the network in code.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from medgan_helpers import models
from medgan_helpers.pix2pix_models import _check_size, default_depth

#: builder name of the denoiser in ``models.BUILDERS`` (what a run folder records)
BUILDER = "diffusion.build_denoiser"


@keras.saving.register_keras_serializable(package="medgan")
class SinusoidalEmbedding(layers.Layer):
    """``t`` in [0, 1] (shape N×1) -> N×``dim`` features sin(ω_k·s·t), cos(ω_k·s·t).

    The frequencies ω_k fall geometrically from 1 to 1/10 000 (the transformer's
    positional encoding); ``scale`` s = 1000 spreads the times of a 1000-step
    schedule over them as DDPM does with integer steps.
    """

    def __init__(self, dim: int = 64, scale: float = 1000.0, **kwargs):
        super().__init__(**kwargs)
        if dim < 2 or dim % 2:
            raise ValueError(f"time embedding dim={dim!r} must be an even number >= 2.")
        self.dim, self.scale = int(dim), float(scale)

    def call(self, t):
        half = self.dim // 2
        frequencies = ops.exp(-math.log(10_000.0) * ops.arange(half, dtype="float32") / max(half - 1, 1))
        angles = ops.cast(t, "float32") * self.scale * frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "scale": self.scale}


def _groups(width: int) -> int:
    """Group-norm groups: 8 where the width allows (a tiny test network has fewer channels)."""
    return math.gcd(width, 8)


def residual_block(x, embedding, width: int, name: str):
    """Two (group norm → swish → 3×3 conv) with the embedding's per-channel shift between them.

    The shift is how the time and the class reach every block: the same
    features are read differently at each noise level and for each class.
    """
    skip = x if x.shape[-1] == width else layers.Conv2D(width, 1, name=f"{name}_skip")(x)
    h = layers.GroupNormalization(_groups(x.shape[-1]), name=f"{name}_norm1")(x)
    h = layers.Activation("swish", name=f"{name}_swish1")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(h)
    shift = layers.Dense(width, name=f"{name}_embedding")(embedding)
    h = layers.Add(name=f"{name}_plus_embedding")([h, layers.Reshape((1, 1, width), name=f"{name}_shift")(shift)])
    h = layers.GroupNormalization(_groups(width), name=f"{name}_norm2")(h)
    h = layers.Activation("swish", name=f"{name}_swish2")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_out")([skip, h])


def build_denoiser(
    image_size: int = 64,
    channels: int = 1,
    num_classes: int | None = None,
    *,
    base_filters: int = 32,
    max_filters: int = 128,
    depth: int | None = None,
    time_dim: int = 64,
    name: str = "denoiser",
) -> keras.Model:
    """Build the U-Net denoiser: ``[noisy image, time, class id]`` -> predicted noise.

    Args:
        image_size: side of the images, a power of two >= 8.
        channels: image channels (1 for MRI).
        num_classes: the classes it is conditioned on (None = unconditional). The
            label input takes ids 0..num_classes, where ``num_classes`` is the null
            class (classifier-free guidance's "no class").
        base_filters: width at full resolution; doubles per level, capped at ``max_filters``.
        depth: down-sampling levels (default: down to 4×4, ``pix2pix_models.default_depth``).
        time_dim: width of the sinusoidal time embedding; the MLP after it is 4× wider.

    Returns:
        A functional model with inputs ``noisy_image`` (N, S, S, C), ``time`` (N, 1)
        float32 and ``label`` (N, 1) int32, and output ``noise`` (N, S, S, C) float32.
    """
    settings = {k: v for k, v in locals().items()}
    _check_size("image_size", image_size)
    depth = default_depth(image_size) if depth is None else int(depth)
    if not 1 <= depth <= int(math.log2(image_size)) - 1:
        raise ValueError(f"depth={depth} must be between 1 and log2(image_size) - 1 = {int(math.log2(image_size)) - 1}.")
    if num_classes is not None and int(num_classes) < 1:
        raise ValueError(f"num_classes={num_classes!r} must be >= 1, or None for an unconditional denoiser.")
    widths = [min(base_filters * 2**level, max_filters) for level in range(depth + 1)]

    noisy = keras.Input((image_size, image_size, channels), name="noisy_image")
    time = keras.Input((1,), name="time")
    label = keras.Input((1,), dtype="int32", name="label")
    embed_width = 4 * time_dim
    embedding = SinusoidalEmbedding(time_dim, name="time_sinusoids")(time)
    embedding = layers.Dense(embed_width, activation="swish", name="time_mlp1")(embedding)
    embedding = layers.Dense(embed_width, name="time_mlp2")(embedding)
    classes = layers.Embedding((num_classes or 0) + 1, embed_width, name="class_embedding")(label)  # + the null class
    embedding = layers.Add(name="time_plus_class")([embedding, layers.Flatten(name="class_flat")(classes)])
    embedding = layers.Activation("swish", name="embedding_swish")(embedding)

    x = layers.Conv2D(widths[0], 3, padding="same", name="stem")(noisy)
    skips, size = [], image_size
    for level in range(depth):  # encoder: a residual block, keep it for the skip, halve the size
        x = residual_block(x, embedding, widths[level], f"down{level}_{size}px")
        skips.append(x)
        size //= 2
        x = layers.Conv2D(widths[level + 1], 3, strides=2, padding="same", name=f"downsample_{size}px")(x)
    x = residual_block(x, embedding, widths[depth], f"middle1_{size}px")
    x = residual_block(x, embedding, widths[depth], f"middle2_{size}px")
    for level in reversed(range(depth)):  # decoder: double the size, join the skip, a residual block
        size *= 2
        x = layers.UpSampling2D(2, name=f"upsample_{size}px")(x)
        x = layers.Conv2D(widths[level], 3, padding="same", name=f"upsample_conv_{size}px")(x)
        x = layers.Concatenate(name=f"skip_{size}px")([x, skips[level]])
        x = residual_block(x, embedding, widths[level], f"up{level}_{size}px")
    x = layers.GroupNormalization(_groups(widths[0]), name="out_norm")(x)
    x = layers.Activation("swish", name="out_swish")(x)
    # zero-initialised: the untrained denoiser predicts no noise, a calm start (as in improved DDPM)
    noise = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="noise")(x)
    model = keras.Model([noisy, time, label], noise, name=name)
    return models.record_build_settings(model, BUILDER, settings)
