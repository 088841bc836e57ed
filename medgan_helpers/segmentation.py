"""A U-Net segmenter: image -> one label per pixel, its Dice + cross-entropy loss, Dice and HD95.

- :func:`build_segmenter`: pix2pix's U-Net (the blocks of ``pix2pix_models``:
  ``unet_body``), ending in one logit per class and pixel instead of a tanh image.
- :func:`dice_ce_loss`: cross-entropy (each pixel right) plus soft-Dice loss (each
  class's overlap right, however small the class: CSF is ~2 % of a brain slice, so
  cross-entropy alone lets a segmenter ignore it).
- :func:`dice_per_class`, :func:`hd95`, :func:`segmentation_scores`: the hard
  metrics on predicted label maps. Dice = 2|A∩B| / (|A|+|B|). HD95 = the 95th
  percentile of the distances from every boundary pixel of one mask to the nearest
  boundary pixel of the other, both directions pooled (as medpy's ``hd95``), from
  exact Euclidean distance transforms (``scipy.ndimage.distance_transform_edt``).
- :func:`train_segmenter`: fits the segmenter on a segmentation set (``brain-mri-seg``,
  ``folder-pairs`` with ``b_kind="mask"``) or on arrays, with ``keras.Model.fit``.

Conventions: images are float32 N×S×S×C in [-1, 1]; label maps are integer
N×S×S (values 0 … K-1, 0 = background); a class absent from both the truth and the
prediction of an image has no Dice and no HD95 (NaN), and is left out of means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from medgan_helpers import models, pix2pix_models


def build_segmenter(
    image_size: int = 64,
    in_channels: int = 1,
    num_classes: int = 4,
    *,
    base_filters: int = 16,
    max_filters: int = 128,
    depth: int | None = None,
    dropout: float = 0.0,
    upsampling: str = "nearest",
    name: str = "segmenter",
) -> keras.Model:
    """Build a U-Net segmenter: image (N, S, S, in_channels) -> logits (N, S, S, num_classes), float32.

    The U-Net is ``pix2pix_models.unet_body`` (same encoder, decoder and skips as
    pix2pix's generator); ``upsampling="nearest"`` by default (no checkerboard in the
    class boundaries). Apply a softmax for probabilities, an argmax for labels
    (:func:`predict_masks`).
    """
    settings = {k: v for k, v in locals().items()}
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: a segmenter needs at least 2 (background and one class).")
    depth = pix2pix_models.default_depth(image_size) if depth is None else int(depth)
    pix2pix_models.check_unet_args(image_size, depth, dropout, upsampling)
    image = keras.Input((image_size, image_size, in_channels), name="image")
    logits = pix2pix_models.unet_body(image, image_size, num_classes, depth=depth, base_filters=base_filters,
                                      max_filters=max_filters, dropout=dropout, upsampling=upsampling)
    logits = layers.Activation("linear", name="logits", dtype="float32")(logits)
    return models.record_build_settings(keras.Model(image, logits, name=name), "segmentation.build_segmenter",
                                        settings)


# --------------------------------------------------------------------------- loss


def _labels_and_logits(y_true, logits):
    """int32 labels N×S×S (a trailing channel of 1 dropped) and float32 logits."""
    logits = tf.cast(logits, tf.float32)
    y_true = tf.cast(y_true, tf.int32)
    if y_true.shape.rank == logits.shape.rank:
        y_true = tf.squeeze(y_true, -1)
    return y_true, logits


def soft_dice_loss(y_true, logits, smooth: float = 1.0):
    """1 - mean over classes of the soft Dice of softmax(logits) with the one-hot labels (per batch)."""
    y_true, logits = _labels_and_logits(y_true, logits)
    probs = tf.nn.softmax(logits, axis=-1)
    onehot = tf.one_hot(y_true, tf.shape(logits)[-1], dtype=tf.float32)
    axes = [0, 1, 2]
    overlap = tf.reduce_sum(probs * onehot, axis=axes)
    total = tf.reduce_sum(probs, axis=axes) + tf.reduce_sum(onehot, axis=axes)
    return 1.0 - tf.reduce_mean((2.0 * overlap + smooth) / (total + smooth))


def cross_entropy_loss(y_true, logits):
    """Mean pixel-wise softmax cross-entropy of integer labels."""
    y_true, logits = _labels_and_logits(y_true, logits)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=logits))


def dice_ce_loss(y_true, logits, dice_weight: float = 1.0):
    """Cross-entropy + ``dice_weight`` × soft-Dice loss (the segmenter's loss; a Keras ``loss`` function)."""
    return cross_entropy_loss(y_true, logits) + dice_weight * soft_dice_loss(y_true, logits)


# --------------------------------------------------------------------------- metrics


def _check_masks(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(true), np.asarray(pred)
    if true.shape != pred.shape:
        raise ValueError(f"truth and prediction differ in shape: {true.shape} vs {pred.shape}.")
    for what, m in (("truth", true), ("prediction", pred)):
        if m.dtype.kind not in "uib":
            raise ValueError(f"the {what} must hold integer labels, got {m.dtype}: take the argmax of "
                             "the logits (predict_masks) first.")
    return true, pred


def dice_per_class(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Dice of every image and class, N×K (one 2-D mask: K); NaN where the class is in neither."""
    true, pred = _check_masks(true, pred)
    single = true.ndim == 2
    true, pred = (true[None], pred[None]) if single else (true, pred)
    out = np.full((len(true), num_classes), np.nan)
    for k in range(num_classes):
        a, b = true == k, pred == k
        size = a.sum(axis=(1, 2)) + b.sum(axis=(1, 2))
        inter = (a & b).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(size > 0, 2.0 * inter / size, np.nan)
    return out[0] if single else out


def boundary(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a 2-D boolean mask: in it, with a 4-neighbour outside it (or off the image)."""
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(2, 1), border_value=0)


def hd95(a: np.ndarray, b: np.ndarray, spacing: float | tuple[float, float] = 1.0) -> float:
    """The 95th-percentile Hausdorff distance between two 2-D boolean masks (in ``spacing`` units).

    Distances from every boundary pixel of ``a`` to the nearest boundary pixel of ``b`` and
    back, pooled; NaN when both masks are empty, inf when only one is.
    """
    from scipy import ndimage

    edge_a, edge_b = boundary(a), boundary(b)
    if not edge_a.any() and not edge_b.any():
        return float("nan")
    if not edge_a.any() or not edge_b.any():
        return float("inf")
    to_b = ndimage.distance_transform_edt(~edge_b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~edge_a, sampling=spacing)
    return float(np.percentile(np.concatenate([to_b[edge_a], to_a[edge_b]]), 95))


def hd95_per_class(true: np.ndarray, pred: np.ndarray, num_classes: int,
                   spacing: float | tuple[float, float] = 1.0) -> np.ndarray:
    """HD95 of every image and class, N×K (one 2-D mask: K); NaN absent in both, inf missing in one."""
    true, pred = _check_masks(true, pred)
    single = true.ndim == 2
    true, pred = (true[None], pred[None]) if single else (true, pred)
    out = np.array([[hd95(t == k, p == k, spacing) for k in range(num_classes)] for t, p in zip(true, pred)])
    return out[0] if single else out


@dataclass
class SegmentationScores:
    """Per-class Dice and HD95 over a set of label maps (means over the images where they exist)."""

    class_names: list[str]
    dice: dict[str, float]
    hd95: dict[str, float]
    #: images where a class is in the truth or the prediction but not both (HD95 infinite: left out)
    missed: dict[str, int]
    images: int
    spacing: float | tuple[float, float] = 1.0
    notes: list[str] = field(default_factory=list)

    def mean_dice(self, include_background: bool = False) -> float:
        """Mean Dice over the classes (background left out unless asked)."""
        names = self.class_names if include_background else self.class_names[1:]
        return float(np.nanmean([self.dice[n] for n in names]))

    def to_dict(self) -> dict:
        """A JSON-friendly copy."""
        return {"class_names": list(self.class_names), "dice": dict(self.dice), "hd95": dict(self.hd95),
                "missed": dict(self.missed), "images": self.images, "mean_dice": self.mean_dice()}

    def __str__(self) -> str:
        lines = [f"Segmentation scores on {self.images} images (HD95 in pixels × {self.spacing}):",
                 f"  {'class':<16}{'Dice':>8}{'HD95':>8}{'missed':>8}"]
        for n in self.class_names:
            lines.append(f"  {n:<16}{self.dice[n]:>8.3f}{self.hd95[n]:>8.2f}{self.missed[n]:>8d}")
        lines.append(f"  mean Dice (without background): {self.mean_dice():.3f}")
        return "\n".join(lines)


def segmentation_scores(true: np.ndarray, pred: np.ndarray, class_names: list[str] | tuple[str, ...],
                        spacing: float | tuple[float, float] = 1.0) -> SegmentationScores:
    """Per-class mean Dice and HD95 of predicted label maps N×S×S against the truth."""
    names = list(class_names)
    dice = dice_per_class(true, pred, len(names))
    dist = hd95_per_class(true, pred, len(names), spacing)
    dice, dist = np.atleast_2d(dice), np.atleast_2d(dist)
    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(dist), dist, np.nan)
    mean = {}
    for values, key in ((dice, "dice"), (finite, "hd95")):
        mean[key] = {n: float(np.nanmean(values[:, k])) if np.isfinite(values[:, k]).any() else float("nan")
                     for k, n in enumerate(names)}
    missed = {n: int(np.isinf(dist[:, k]).sum()) for k, n in enumerate(names)}
    return SegmentationScores(names, mean["dice"], mean["hd95"], missed, len(dice), spacing)


# --------------------------------------------------------------------------- pictures

#: RGB in [0, 1] of labels 0-3 in pictures: background black, CSF blue, grey matter orange, white matter white.
LABEL_COLOURS = ((0.0, 0.0, 0.0), (0.25, 0.55, 1.0), (0.95, 0.55, 0.15), (1.0, 1.0, 1.0))


def label_rgb(masks: np.ndarray, colours=LABEL_COLOURS) -> np.ndarray:
    """Label maps (…×S×S integers) as RGB pictures (…×S×S×3 float in [0, 1]), one colour per label."""
    masks = np.asarray(masks)
    if masks.dtype.kind not in "ui":
        raise ValueError(f"label maps must hold integer labels, got {masks.dtype}.")
    table = np.asarray(colours, np.float32)
    if masks.size and int(masks.max()) >= len(table):
        raise ValueError(f"label {int(masks.max())} has no colour: pass colours for {int(masks.max()) + 1} labels.")
    return table[masks]


# --------------------------------------------------------------------------- training and prediction


def predict_masks(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Label maps (uint8 N×S×S): the argmax of the segmenter's logits.

    Plain batched calls (``features.predict_logits``), not ``model.predict``: a notebook that
    scores several segmenters in a row would otherwise retrace a predict function for each
    one and print TensorFlow's retracing warnings.
    """
    from medgan_helpers.evaluation import features

    return np.argmax(features.predict_logits(model, images, batch_size), axis=-1).astype(np.uint8)


def _as_arrays(data) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(images float32 [-1, 1], masks, label names) from a segmentation PairedSet or an (images, masks) pair."""
    if hasattr(data, "mask_labels"):
        if not data.mask_labels:
            raise ValueError(f"{data.name} is not a segmentation set (its targets are images): load "
                             "'brain-mri-seg', or folder-pairs with b_kind='mask'.")
        return data.input_images, data.masks, tuple(data.mask_labels)
    images, masks = data
    images, masks = np.asarray(images, np.float32), np.asarray(masks)
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f"images must be N×S×S×C and masks N×S×S with the same N, S; got {images.shape} "
                         f"and {masks.shape}.")
    names = tuple(f"label {v}" for v in range(int(masks.max()) + 1))
    return images, masks, names


@dataclass
class SegmenterResult:
    """What :func:`train_segmenter` returns: the fitted model, its loss per epoch, the label names."""

    model: keras.Model
    history: dict[str, list[float]]
    class_names: tuple[str, ...]


def train_segmenter(
    data,
    *,
    model: keras.Model | None = None,
    epochs: int = 10,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    dice_weight: float = 1.0,
    num_classes: int | None = None,
    validation=None,
    seed: int = 0,
    base_filters: int = 16,
    verbose: int = 0,
) -> SegmenterResult:
    """Fit a segmenter with :func:`dice_ce_loss` (Adam) on a segmentation set or ``(images, masks)``.

    Args:
        data: ``brain-mri-seg`` / mask ``folder-pairs`` PairedSet, or (images N×S×S×C in [-1, 1],
            masks N×S×S integer labels).
        model: a segmenter to go on training (default: a new :func:`build_segmenter`).
        num_classes: label values (default: the set's ``mask_labels``, or the largest label + 1).
        validation: the same kinds of data, scored with the loss after every epoch.
        seed: seeds the weights and the shuffling.
    """
    images, masks, names = _as_arrays(data)
    k = len(names) if num_classes is None else int(num_classes)
    if masks.size and int(masks.max()) >= k:
        raise ValueError(f"the masks hold label {int(masks.max())} but num_classes={k}: pass a larger "
                         "num_classes (one per label value, background included).")
    keras.utils.set_random_seed(seed)
    if model is None:
        model = build_segmenter(images.shape[1], images.shape[-1], k, base_filters=base_filters)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=lambda y, logits: dice_ce_loss(y, logits, dice_weight))
    val = None
    if validation is not None:
        v_images, v_masks, _ = _as_arrays(validation)
        val = (v_images, v_masks.astype(np.int32))
    fit = model.fit(images, masks.astype(np.int32), batch_size=min(batch_size, len(images)), epochs=epochs,
                    shuffle=True, validation_data=val, verbose=verbose)
    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
    names = (*names, *(f"label {v}" for v in range(len(names), k)))[:k]
    return SegmenterResult(model, history, names)
