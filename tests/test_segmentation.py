"""The segmenter: Dice and HD95 against brute-force references, the Dice + CE loss, the U-Net, training.

The references below share nothing with ``segmentation``: boundaries by looping over
4-neighbours, distances by all pairs of points, Dice by counting pixels one at a time.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from medgan_helpers import models, pix2pix_models, segmentation

# --------------------------------------------------------------------------- references


def reference_boundary(mask: np.ndarray) -> list[tuple[int, int]]:
    """Pixels of ``mask`` with a 4-neighbour outside it or outside the image, by looping."""
    h, w = mask.shape
    points = []
    for r, c in itertools.product(range(h), range(w)):
        if not mask[r, c]:
            continue
        neighbours = [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
        if any(not (0 <= y < h and 0 <= x < w) or not mask[y, x] for y, x in neighbours):
            points.append((r, c))
    return points


def reference_hd95(a: np.ndarray, b: np.ndarray) -> float:
    """95th percentile of every boundary point's distance to the other boundary (all pairs, pooled)."""
    pa, pb = np.array(reference_boundary(a), float), np.array(reference_boundary(b), float)
    if not len(pa) or not len(pb):
        return float("nan") if not len(pa) and not len(pb) else float("inf")
    pairwise = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return float(np.percentile(np.concatenate([pairwise.min(axis=1), pairwise.min(axis=0)]), 95))


def reference_dice(true: np.ndarray, pred: np.ndarray, k: int) -> float:
    inter = size_t = size_p = 0
    for t, p in zip(true.ravel(), pred.ravel()):
        inter += int(t == k and p == k)
        size_t += int(t == k)
        size_p += int(p == k)
    return float("nan") if size_t + size_p == 0 else 2 * inter / (size_t + size_p)


def square(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


def blobs(rng: np.random.Generator, size: int = 24, classes: int = 4) -> np.ndarray:
    """A random label map of smooth blobs (every class in it, boundaries of every shape)."""
    from scipy import ndimage

    while True:  # drawn again until every class is in it
        noise = ndimage.gaussian_filter(rng.normal(size=(classes, size, size)), (0, 2.0, 2.0))
        labels = np.argmax(noise, axis=0).astype(np.uint8)
        if len(np.unique(labels)) == classes:
            return labels


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_hd95_of_a_square_shifted_by_k_pixels_is_k(k):
    a, b = square(32, 6, 6, 12), square(32, 6, 6 + k, 12)
    assert segmentation.hd95(a, b) == pytest.approx(k)
    assert reference_hd95(a, b) == pytest.approx(k)
    diagonal = square(32, 6 + k, 6 + k, 12)  # shifted along both axes
    assert segmentation.hd95(a, diagonal) == pytest.approx(reference_hd95(a, diagonal))


def test_hd95_and_dice_match_the_references_on_random_label_maps():
    rng = np.random.default_rng(3)
    for _ in range(4):
        true, pred = blobs(rng), blobs(rng)
        dist = segmentation.hd95_per_class(true, pred, 4)
        dice = segmentation.dice_per_class(true, pred, 4)
        assert np.isfinite(dist).all()  # every class in both maps: a real comparison
        for k in range(4):
            assert dist[k] == pytest.approx(reference_hd95(true == k, pred == k), abs=1e-9)
            assert dice[k] == pytest.approx(reference_dice(true, pred, k), abs=1e-12)
    a = square(20, 2, 2, 8)
    boundary = {tuple(p) for p in np.argwhere(segmentation.boundary(a))}
    assert boundary == set(reference_boundary(a)) and len(boundary) == 28


def test_dice_and_hd95_on_known_cases():
    a, b = square(16, 0, 0, 4), square(16, 0, 2, 4)  # 16 px each, 8 shared
    true, pred = a.astype(np.uint8), b.astype(np.uint8)
    assert segmentation.dice_per_class(true, pred, 2)[1] == pytest.approx(2 * 8 / 32)
    assert segmentation.dice_per_class(true, true, 3).tolist()[:2] == [1.0, 1.0]
    assert np.isnan(segmentation.dice_per_class(true, true, 3)[2])  # class 2 in neither
    assert segmentation.hd95(a, a) == 0.0
    assert np.isnan(segmentation.hd95(a & False, b & False)) and segmentation.hd95(a, a & False) == np.inf
    assert segmentation.hd95(a, b, spacing=0.5) == pytest.approx(1.0)  # 2 px of 0.5 mm
    with pytest.raises(ValueError, match="argmax"):
        segmentation.dice_per_class(true.astype(float), pred, 2)
    with pytest.raises(ValueError, match="shape"):
        segmentation.hd95_per_class(true, pred[:8], 2)


def test_segmentation_scores_average_over_images_where_a_class_exists():
    true = np.zeros((3, 16, 16), np.uint8)
    true[:, 4:10, 4:10] = 1
    pred = true.copy()
    pred[1] = np.roll(true[1], 2, axis=1)  # shifted by 2 px
    pred[2, 12:14, 12:14] = 2  # a class the truth does not have in image 2
    scores = segmentation.segmentation_scores(true, pred, ["background", "tissue", "lesion"])
    d1 = reference_dice(true[1], pred[1], 1)
    assert scores.dice["tissue"] == pytest.approx((1 + d1 + 1) / 3)
    assert scores.hd95["tissue"] == pytest.approx(2 / 3)
    assert scores.missed == {"background": 0, "tissue": 0, "lesion": 1}
    assert scores.dice["lesion"] == 0.0 and np.isnan(scores.hd95["lesion"])
    assert scores.mean_dice() == pytest.approx(np.mean([scores.dice["tissue"], 0.0]))
    assert "tissue" in str(scores) and scores.to_dict()["images"] == 3


# --------------------------------------------------------------------------- loss and model


def test_dice_ce_loss_matches_numpy_and_is_small_for_a_perfect_prediction():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 8, 8))
    logits = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    onehot = np.eye(3)[labels]
    ce = -np.log((probs * onehot).sum(-1)).mean()
    dice = [(2 * (probs * onehot)[..., k].sum() + 1) / (probs[..., k].sum() + onehot[..., k].sum() + 1)
            for k in range(3)]
    expected = ce + 0.5 * (1 - np.mean(dice))
    got = float(segmentation.dice_ce_loss(tf.constant(labels[..., None]), tf.constant(logits), dice_weight=0.5))
    assert got == pytest.approx(expected, rel=1e-5)
    perfect = float(segmentation.dice_ce_loss(labels, 30.0 * onehot.astype(np.float32)))
    assert perfect < 1e-3 < got


def test_segmenter_is_the_unet_with_a_class_head_and_rebuilds_from_its_settings():
    keras.utils.set_random_seed(0)
    model = segmentation.build_segmenter(32, 1, 4, base_filters=4, max_filters=16)
    out = model(np.zeros((2, 32, 32, 1), np.float32))
    assert out.shape == (2, 32, 32, 4) and out.dtype == "float32"
    unet = pix2pix_models.build_unet(32, 1, 4, base_filters=4, max_filters=16, upsampling="nearest")
    shared = [layer.name for layer in unet.layers if layer.name not in ("source", "tanh")]
    assert shared == [layer.name for layer in model.layers[1:-1]]  # the same blocks, in order
    rebuilt = models.rebuild(models.build_settings(model))
    assert rebuilt.count_params() == model.count_params() and rebuilt.name == "segmenter"
    with pytest.raises(ValueError, match="num_classes"):
        segmentation.build_segmenter(32, num_classes=1)
    with pytest.raises(ValueError, match="power of two"):
        segmentation.build_segmenter(48)


def tiny_set(n: int = 8, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Bright squares (class 1) with a darker core (class 2) on black: learnable in a few steps."""
    rng = np.random.default_rng(1)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        top, left = rng.integers(1, size - 9, 2)
        masks[i, top : top + 8, left : left + 8] = 1
        masks[i, top + 2 : top + 6, left + 2 : left + 6] = 2
    images = np.choose(masks, [-1.0, 0.8, 0.1]).astype(np.float32)[..., None]
    return images, masks


@pytest.mark.slow
def test_training_lowers_the_loss_on_a_tiny_set():
    images, masks = tiny_set()
    model = segmentation.build_segmenter(16, 1, 3, base_filters=8, max_filters=16)
    model.compile(loss=segmentation.dice_ce_loss)
    before = float(model.evaluate(images, masks, verbose=0))
    result = segmentation.train_segmenter((images, masks), model=model, epochs=15, batch_size=8,
                                          learning_rate=3e-3, validation=(images, masks))
    after = float(model.evaluate(images, masks, verbose=0))
    losses = result.history["loss"]
    assert after < 0.7 * before and losses[-1] < losses[0]
    assert len(result.history["val_loss"]) == 15 and result.class_names == ("label 0", "label 1", "label 2")
    predicted = segmentation.predict_masks(result.model, images)
    assert predicted.dtype == np.uint8 and predicted.shape == masks.shape


def test_train_segmenter_says_what_is_wrong_with_its_data():
    images, masks = tiny_set(2)
    with pytest.raises(ValueError, match="num_classes"):
        segmentation.train_segmenter((images, masks), num_classes=2, epochs=1)
    with pytest.raises(ValueError, match="N×S×S"):
        segmentation.train_segmenter((images, masks[:, :8]), epochs=1)


def test_label_rgb_gives_each_label_its_colour_and_refuses_what_is_not_a_label_map():
    masks = np.array([[[0, 1], [2, 3]]], np.uint8)
    rgb = segmentation.label_rgb(masks)
    assert rgb.shape == (1, 2, 2, 3) and rgb.dtype == np.float32
    assert [tuple(rgb[0].reshape(4, 3)[k]) for k in range(4)] == [
        tuple(np.float32(c) for c in colour) for colour in segmentation.LABEL_COLOURS]
    with pytest.raises(ValueError, match="integer labels"):
        segmentation.label_rgb(masks.astype(np.float32))
    with pytest.raises(ValueError, match="label 4 has no colour"):
        segmentation.label_rgb(np.full((2, 2), 4, np.uint8))
