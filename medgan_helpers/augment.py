"""DiffAugment: differentiable augmentation of real *and* fake images (Zhao et al. 2020).

``diff_augment(images, policy, seed, probability=p)`` is what ``gan.GAN.augment``
applies every time D looks at an image. Each image is augmented with probability
``p`` (1 = always, as in DiffAugment; ADA steers ``p``, see ``gan.GAN``).
Medical-safe by default: no flips (left/right anatomy matters) and no hue
changes (grey images); ``"medical-flip"`` adds flips for symmetric anatomy.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

AUGMENT_POLICIES = {
    # the kit's default: a 2-pixel shift (at 64 px), a cut-out square, mild brightness/contrast
    "medical": ("shift", "cutout", "brightness", "contrast"),
    "medical-flip": ("shift", "cutout", "brightness", "contrast", "flip"),
    # DiffAugment's own strength: shifts up to 1/8 of the side (the kit's default until 2026-11;
    # benchmarks/ablation.py measured that it keeps a small D at chance on brain-mri)
    "diffaugment": ("translation", "cutout", "brightness", "contrast"),
    "translation": ("translation",),
    "color": ("brightness", "contrast"),
}
_AUGMENTATIONS = ("shift", "translation", "cutout", "brightness", "contrast", "flip")
#: largest shift of "shift" and of "translation", as a fraction of the side
SHIFT_RATIO, TRANSLATION_RATIO = 1 / 32, 1 / 8


def parse_policy(augment) -> tuple[str, ...]:
    """A policy name, a comma-separated string, a list of augmentations or None -> a tuple."""
    if augment is None or augment is False or augment == "none":
        return ()
    if isinstance(augment, str):
        if augment in AUGMENT_POLICIES:
            return AUGMENT_POLICIES[augment]
        augment = [a.strip() for a in augment.split(",") if a.strip()]
    unknown = [a for a in augment if a not in _AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"augment={augment!r}: unknown augmentation(s) {unknown}. Use None, a policy "
            f"name ({', '.join(AUGMENT_POLICIES)}) or a list of {', '.join(_AUGMENTATIONS)}."
        )
    return tuple(augment)


def diff_augment(
    images,
    policy: str | tuple | None = "medical",
    seed=None,
    *,
    probability=1.0,
    translation_ratio: float = TRANSLATION_RATIO,
    cutout_ratio: float = 0.25,
    brightness: float = 0.1,
    contrast: float = 0.1,
):
    """Randomly augment a batch of images in [-1, 1], differentiably (DiffAugment).

    Args:
        images: N×H×W×C float tensor or array.
        policy: ``"medical"`` (a shift of up to 1/32 of the side, cutout, brightness,
            contrast), another name in ``AUGMENT_POLICIES``, a list of
            augmentation names, or None.
        seed: an int or a ``keras.random.SeedGenerator``.
        probability: each image is augmented with this probability (a number or
            a scalar variable — ADA steers it), else left as it is.
        translation_ratio: largest shift of ``"translation"`` as a fraction of the side
            (gap filled with -1 = black); ``"shift"`` moves by at most ``SHIFT_RATIO``.
        cutout_ratio: side of the zeroed square as a fraction of the side.
        brightness: largest added offset (images span 2.0).
        contrast: largest relative change of contrast around each image's mean.
    """
    x = ops.convert_to_tensor(images)
    policy = parse_policy(policy)
    if not policy:
        return x
    dtype = x.dtype
    x = ops.cast(x, "float32")
    original = x
    n = ops.shape(x)[0]
    height, width = int(x.shape[1]), int(x.shape[2])
    if "brightness" in policy:
        x = x + keras.random.uniform((n, 1, 1, 1), -brightness, brightness, seed=seed)
    if "contrast" in policy:
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        factor = keras.random.uniform((n, 1, 1, 1), 1.0 - contrast, 1.0 + contrast, seed=seed)
        x = (x - mean) * factor + mean
    if "translation" in policy:
        x = _translate(x, height, width, translation_ratio, seed)
    if "shift" in policy:
        x = _translate(x, height, width, SHIFT_RATIO, seed)
    if "cutout" in policy:
        x = _cutout(x, height, width, cutout_ratio, seed)
    if "flip" in policy:  # opt-in only
        flip = keras.random.uniform((n, 1, 1, 1), seed=seed) < 0.5
        x = ops.where(flip, ops.flip(x, axis=2), x)
    if not (isinstance(probability, (int, float)) and probability >= 1):
        chosen = keras.random.uniform((n, 1, 1, 1), seed=seed) < ops.cast(probability, "float32")
        x = ops.where(chosen, x, original)
    return ops.cast(x, dtype)


def _translate(x, height, width, ratio, seed):
    pad = max(1, int(round(height * ratio)))
    n = ops.shape(x)[0]
    shift_y = keras.random.randint((n, 1), -pad, pad + 1, seed=seed)
    shift_x = keras.random.randint((n, 1), -pad, pad + 1, seed=seed)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=-1.0)
    rows = ops.arange(height)[None, :] + pad - shift_y  # (N, H) source rows
    cols = ops.arange(width)[None, :] + pad - shift_x
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def _cutout(x, height, width, ratio, seed):
    n = ops.shape(x)[0]
    half_h, half_w = max(1, int(height * ratio / 2)), max(1, int(width * ratio / 2))
    cy = keras.random.randint((n, 1, 1), 0, height, seed=seed)
    cx = keras.random.randint((n, 1, 1), 0, width, seed=seed)
    rows = ops.arange(height)[None, :, None]
    cols = ops.arange(width)[None, None, :]
    inside = (ops.abs(rows - cy) < half_h) & (ops.abs(cols - cx) < half_w)
    return x * ops.cast(~inside, x.dtype)[..., None]
