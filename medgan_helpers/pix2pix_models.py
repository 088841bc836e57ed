"""The two networks of pix2pix (Isola et al. 2017), as plain Keras 3 functional models.

- ``build_unet``: an image-to-image generator. An encoder halves the resolution
  block by block (strided 4×4 convolutions) down to a small bottleneck; a decoder
  doubles it back (transposed convolutions); a **skip connection** concatenates
  each encoder block's features to the decoder block of the same size, so fine
  detail (edges, exact positions) need not squeeze through the bottleneck. For
  super-resolution the input is smaller than the output: it is first upsampled
  bicubically inside the model (``input_size``), and with ``residual=True`` the
  network only adds a correction to that bicubic picture.
- ``unet_encoder`` / ``unet_decoder`` / ``unet_body``: the U-Net's blocks, shared
  with the segmenter (``segmentation.build_segmenter``: the same U-Net, a softmax
  head instead of tanh), so the two are never copies of each other.
- ``bicubic``: the classical baseline every learned upsampler must beat.
- ``build_patch_discriminator``: a **PatchGAN** conditioned on the input. It sees
  the input and an output (real or generated) concatenated along the channels
  and returns a *map* of logits, one per overlapping patch: "does this patch
  look like a real target *for this input*?".

Every layer is a stock Keras layer (no Lambda), the last ones compute in
float32 (ready for ``mixed_float16``), and the build arguments are recorded on
the model (``models.build_settings(model)``), so a run folder can rebuild the
networks in code through ``models.BUILDERS`` (``runs.load_model``).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from medgan_helpers import models

#: Output sizes the U-Net is built and tested for (any power of two from 16 to 256 works).
SIZES = (32, 64, 128)


def _check_size(name: str, value: int, smallest: int = 8) -> None:
    if not isinstance(value, int) or value < smallest or value & (value - 1):
        raise ValueError(f"{name}={value!r} must be a power of two >= {smallest} (e.g. 64).")


def _check_sizes(image_size: int, input_size: int | None) -> int:
    """Check the output and input sides of a U-Net or PatchGAN; return the input side.

    One check for G and D: they are built for the same pair of sizes, and the input is only
    ever upsampled (super-resolution), never shrunk."""
    _check_size("image_size", image_size)
    input_size = image_size if input_size is None else input_size
    _check_size("input_size", input_size, smallest=2)
    if input_size > image_size:
        raise ValueError(f"input_size={input_size} is larger than image_size={image_size}.")
    return input_size


def default_depth(image_size: int) -> int:
    """Down-sampling blocks so that the bottleneck is 4×4: 3 at 32 px, 4 at 64, 5 at 128."""
    return max(1, int(math.log2(image_size)) - 2)


# --------------------------------------------------------------------------- shared U-Net blocks
# pix2pix's generator and the segmenter (``segmentation.build_segmenter``) are the same U-Net
# with a different head, so the blocks live here once. Layer names and order are part of a
# saved run's weights: changing them breaks the shipped pix2pix runs.


def check_unet_args(image_size: int, depth: int, dropout: float, upsampling: str) -> None:
    """The checks every U-Net built from these blocks shares (ValueError naming the argument)."""
    _check_size("image_size", image_size)
    if not 1 <= depth <= int(math.log2(image_size)):
        raise ValueError(f"depth={depth} must be between 1 and log2(image_size)={int(math.log2(image_size))}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} must be in [0, 1).")
    if upsampling not in ("transpose", "nearest"):
        raise ValueError(f"upsampling={upsampling!r} is not known: use 'transpose' or 'nearest'.")


def up_block(filters: int, upsampling: str, layer_name: str, **kwargs) -> list:
    """The layers that double the resolution: a 4×4 transposed convolution, or nearest ×2 + 3×3 conv."""
    if upsampling == "transpose":
        return [layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=layer_name, **kwargs)]
    return [layers.UpSampling2D(2, name=f"{layer_name}_nearest"),
            layers.Conv2D(filters, 3, padding="same", name=layer_name, **kwargs)]


def unet_encoder(x, image_size: int, depth: int, base_filters: int, max_filters: int) -> list:
    """Encoder: ``depth`` blocks of conv(stride 2) -> [batch norm] -> LeakyReLU; returns every block's output.

    The last entry is the bottleneck; the others are the skip connections of the decoder.
    """
    skips, size = [], image_size
    for block in range(depth):
        size //= 2
        width = min(base_filters * 2**block, max_filters)
        x = layers.Conv2D(width, 4, strides=2, padding="same", use_bias=block == 0, name=f"down_{size}x{size}")(x)
        if block > 0:
            x = layers.BatchNormalization(name=f"down_bn_{size}x{size}")(x)
        x = layers.LeakyReLU(0.2, name=f"down_lrelu_{size}x{size}")(x)
        skips.append(x)
    return skips


def unet_decoder(skips: list, image_size: int, base_filters: int, max_filters: int, *,
                 dropout: float = 0.0, upsampling: str = "transpose"):
    """Decoder: from the bottleneck (``skips[-1]``) up to ``image_size / 2``, concatenating each skip.

    Each block: up-conv -> batch norm -> [dropout, in the three innermost] -> ReLU -> concat skip.
    """
    depth = len(skips)
    x, size = skips[-1], image_size // 2**depth
    for block in reversed(range(depth - 1)):
        size *= 2
        width = min(base_filters * 2**block, max_filters)
        for layer in up_block(width, upsampling, f"up_{size}x{size}", use_bias=False):
            x = layer(x)
        x = layers.BatchNormalization(name=f"up_bn_{size}x{size}")(x)
        if dropout and block >= depth - 4:
            x = layers.Dropout(dropout, name=f"up_dropout_{size}x{size}")(x)
        x = layers.ReLU(name=f"up_relu_{size}x{size}")(x)
        x = layers.Concatenate(name=f"skip_{size}x{size}")([x, skips[block]])
    return x


def unet_body(x, image_size: int, out_channels: int, *, depth: int, base_filters: int, max_filters: int,
              dropout: float = 0.0, upsampling: str = "transpose"):
    """Encoder -> decoder -> a last up-block ``to_image`` with ``out_channels`` (float32, no activation)."""
    skips = unet_encoder(x, image_size, depth, base_filters, max_filters)
    x = unet_decoder(skips, image_size, base_filters, max_filters, dropout=dropout, upsampling=upsampling)
    for layer in up_block(out_channels, upsampling, "to_image", dtype="float32"):
        x = layer(x)
    return x


def build_unet(
    image_size: int = 64,
    in_channels: int = 2,
    out_channels: int = 1,
    *,
    input_size: int | None = None,
    base_filters: int = 32,
    max_filters: int = 256,
    depth: int | None = None,
    dropout: float = 0.0,
    residual: bool = False,
    upsampling: str = "transpose",
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net generator: input image -> output image in [-1, 1].

    Args:
        image_size: side of the output (and of the U-Net), a power of two.
        in_channels, out_channels: channels of the input (2 for GM/WM maps) and output.
        input_size: side of the input if smaller than ``image_size`` (super-resolution):
            the input is upsampled bicubically to ``image_size`` first. None = same size.
        base_filters: width of the first block; doubles per block (capped at ``max_filters``).
        depth: number of down-sampling blocks (default: down to a 4×4 bottleneck).
        dropout: dropout in the three innermost decoder blocks (pix2pix uses 0.5 as its
            only source of randomness; 0 = a deterministic translation).
        residual: output = bicubic input + a learned correction (needs
            ``in_channels == out_channels``); else output = tanh(U-Net(input)).
        upsampling: ``"transpose"`` (pix2pix: 4×4 transposed convolutions, stride 2)
            or ``"nearest"`` (nearest-neighbour ×2, then a 3×3 convolution: no
            checkerboard pattern from uneven kernel overlap).

    Returns:
        A functional model with input ``source`` (N, input_size, input_size, in_channels)
        and output ``image`` (N, image_size, image_size, out_channels).
    """
    settings = {k: v for k, v in locals().items()}
    input_size = _check_sizes(image_size, input_size)
    depth = default_depth(image_size) if depth is None else int(depth)
    check_unet_args(image_size, depth, dropout, upsampling)
    if residual and in_channels != out_channels:
        raise ValueError("residual=True adds the (upsampled) input to the output: it needs "
                         f"in_channels == out_channels, got {in_channels} and {out_channels}.")

    source = keras.Input((input_size, input_size, in_channels), name="source")
    x = source
    if input_size != image_size:
        x = layers.Resizing(image_size, image_size, interpolation="bicubic", name="bicubic_upsample")(x)
    upsampled = x
    x = unet_body(x, image_size, out_channels, depth=depth, base_filters=base_filters,
                  max_filters=max_filters, dropout=dropout, upsampling=upsampling)
    if residual:
        image = layers.Add(name="bicubic_plus_correction", dtype="float32")([upsampled, x])
    else:
        image = layers.Activation("tanh", name="tanh", dtype="float32")(x)
    return models.record_build_settings(keras.Model(source, image, name=name), "pix2pix.build_unet", settings)


def build_patch_discriminator(
    image_size: int = 64,
    in_channels: int = 2,
    out_channels: int = 1,
    *,
    input_size: int | None = None,
    base_filters: int = 32,
    max_filters: int = 256,
    n_layers: int = 2,
    spectral_norm: bool = True,
    name: str = "patch_discriminator",
) -> keras.Model:
    """Build a PatchGAN discriminator conditioned on the input.

    Args:
        image_size: side of the images judged (the generator's output).
        in_channels, out_channels: channels of the condition and of the judged image.
        input_size: side of the condition if smaller (super-resolution): upsampled
            bicubically to ``image_size`` before the two are concatenated.
        base_filters, max_filters: width of the first block, doubling per block, capped.
        n_layers: strided blocks; with the two stride-1 layers after them, each logit
            sees a patch of 34 px (``n_layers=2``, the default: about half a 64 px
            image), 16 px (1) or 70 px (3, pix2pix's choice for 256 px images).
        spectral_norm: wrap every convolution in spectral normalisation (the kit's
            default for D, as in ``models.build_discriminator``); else batch norm.

    Returns:
        A functional model with inputs ``[source, image]`` and output ``logits`` of
        shape (N, P, P, 1), one unbounded logit per patch (P = image_size / 2**n_layers).
    """
    settings = {k: v for k, v in locals().items()}
    input_size = _check_sizes(image_size, input_size)
    if not 1 <= n_layers <= int(math.log2(image_size)) - 1:
        raise ValueError(f"n_layers={n_layers} must be between 1 and log2(image_size) - 1.")

    def conv(filters, stride, layer_name, dtype=None):
        layer = layers.Conv2D(filters, 4, strides=stride, padding="same", name=layer_name, dtype=dtype)
        return layers.SpectralNormalization(layer, name=f"sn_{layer_name}", dtype=dtype) if spectral_norm else layer

    source = keras.Input((input_size, input_size, in_channels), name="source")
    image = keras.Input((image_size, image_size, out_channels), name="image")
    condition = source
    if input_size != image_size:
        condition = layers.Resizing(image_size, image_size, interpolation="bicubic", name="bicubic_upsample")(source)
    x = layers.Concatenate(name="source_and_image")([condition, image])
    size = image_size
    for block in range(n_layers):
        size //= 2
        x = conv(min(base_filters * 2**block, max_filters), 2, f"down_{size}x{size}")(x)
        if block > 0 and not spectral_norm:
            x = layers.BatchNormalization(name=f"bn_{size}x{size}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{size}x{size}")(x)
    x = conv(min(base_filters * 2**n_layers, max_filters), 1, "patch_features")(x)
    x = layers.LeakyReLU(0.2, name="lrelu_patch_features")(x)
    logits = conv(1, 1, "patch_logits", dtype="float32")(x)
    return models.record_build_settings(keras.Model([source, image], logits, name=name), "pix2pix.build_patch_discriminator", settings)


def bicubic(inputs: np.ndarray, image_size: int) -> np.ndarray:
    """The classical baseline: bicubic upsampling to ``image_size`` (``tf.image.resize``), clipped to [-1, 1]."""
    out = tf.image.resize(np.asarray(inputs, np.float32), (image_size, image_size), method="bicubic")
    return np.clip(out.numpy(), -1.0, 1.0)
