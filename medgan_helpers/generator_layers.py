"""Two generator layers against speckle: a fixed binomial blur, and pixel-wise feature normalisation.

Both are choices of ``models.build_generator`` that ``benchmarks/realism_ablation.py``
measures against the recipe (issue 17: the generated images carry more
high-frequency energy than real ones).

- :class:`BinomialBlur` (``upsampling="blur"``): nearest-neighbour upsampling
  copies each pixel into a 2x2 block; the 3x3 convolution that follows must
  learn to hide those block edges, and a small G does it imperfectly, leaving
  speckle and short dashes. A fixed [1, 2, 1] ⊗ [1, 2, 1] / 16 low-pass after the
  upsampling removes the block edges before any weight sees them (the
  anti-aliased resampling of Zhang 2019 and of StyleGAN's upsampling, Karras et
  al. 2019). The borders are reflected, not zero-padded: zero is mid-grey in
  [-1, 1] images, whose background is black.
- :class:`PixelNorm` (``g_norm="pixel"``): each pixel's feature vector divided by
  its root mean square (Karras et al. 2018, ProGAN). Unlike batch norm it does
  not depend on the other images of the batch, so G computes the same function
  while training and while sampling, and its EMA copy needs no statistics.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="medgan")
class BinomialBlur(layers.Layer):
    """A fixed 3x3 binomial low-pass filter per channel, with reflected borders (no weights)."""

    def build(self, input_shape):
        channels = int(input_shape[-1])
        taps = ops.convert_to_tensor([1.0, 2.0, 1.0])
        kernel = ops.outer(taps, taps) / 16.0
        self._kernel = ops.tile(ops.reshape(kernel, (3, 3, 1, 1)), (1, 1, channels, 1))
        super().build(input_shape)

    def call(self, x):
        padded = ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        return ops.depthwise_conv(padded, ops.cast(self._kernel, x.dtype), strides=1, padding="valid")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="medgan")
class PixelNorm(layers.Layer):
    """x / sqrt(mean over channels of x² + epsilon), at every pixel (ProGAN's pixel-wise feature normalisation)."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
