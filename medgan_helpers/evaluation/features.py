"""The evaluation feature space: a small Keras classifier trained on the real train split.

Used by :mod:`medgan_helpers.evaluation`. The classifier is trained once per
dataset + image size (+ a fingerprint of the pixels), saved under
``config.cache_dir()/feature_extractors/`` and frozen before any GAN is scored,
so every run of the same dataset is measured with the same ruler. Features are
the globally pooled activations of its last convolution (the penultimate layer).

The same builder gives the classifier for the utility test (TSTR / TRTR).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan_helpers import config, fileio
from medgan_helpers.data import cachefiles

FEATURE_LAYER = "features"
#: where Keras keeps downloaded application weights (checked, never downloaded into)
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def build_classifier(image_size: int, channels: int, num_outputs: int, width: int = 32, name: str = "classifier"):
    """A small CNN classifier: strided 3×3 convolutions → global average pool → logits.

    The pooled layer (named ``"features"``, ``4 * width`` dimensions) is the
    feature space of the evaluation metrics.
    """
    import keras

    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = inputs
    n_down = 4 if image_size >= 96 else 3
    for i in range(n_down):
        filters = width * min(2**i, 4)
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}b")(x)
    features = keras.layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(x)
    logits = keras.layers.Dense(num_outputs, name="logits")(features)
    return keras.Model(inputs, logits, name=name)


def fit_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    epochs: int,
    seed: int = 0,
    batch_size: int = 64,
    width: int = 32,
    multilabel: bool = False,
):
    """Train :func:`build_classifier` on ``images`` (float32 [-1, 1]) and ``labels``; returns the model."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_classifier(images.shape[1], images.shape[3], num_classes, width=width)
    if multilabel:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(
        np.asarray(images, np.float32),
        np.asarray(labels, np.float32 if multilabel else np.int64),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
    )
    return model


def predict_logits(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits of ``model`` for ``images`` (plain batched calls: no progress bar, no retracing)."""
    images = np.asarray(images, np.float32)
    out = [np.asarray(model(images[i : i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def _rotation_task(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Self-supervised labels for unlabelled data: predict the rotation (0/90/180/270°)."""
    rotated = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
    labels = np.repeat(np.arange(4), len(images))
    return np.concatenate(rotated).astype(np.float32), labels


def fingerprint(images: np.ndarray) -> str:
    """A short hash of shape and pixels, so a changed dataset never reuses a stale extractor."""
    h = hashlib.sha1(str(images.shape).encode())
    step = max(1, len(images) // 512)
    h.update(np.ascontiguousarray(images[::step]).astype(np.float16).tobytes())
    return h.hexdigest()[:10]


@dataclass
class FeatureExtractor:
    """Maps images (float32 N×H×W×C in [-1, 1]) to feature vectors (N×D).

    ``name`` says what the features are; ``comparable_with_published`` is always
    False for this kit (our classifier is ours; even the InceptionV3 option uses
    different sample sizes and preprocessing than published FIDs).
    """

    model: object
    name: str
    image_size: int
    channels: int
    info: dict = field(default_factory=dict)
    comparable_with_published: bool = False
    resize_to: int | None = None
    #: features are returned as (raw - shift) / scale; both fixed from the real train split
    shift: np.ndarray | None = None
    scale: float = 1.0

    def __call__(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Features of ``images``; shape N × feature dimension (float64)."""
        raw = self.raw_features(images, batch_size)
        return (raw - (0.0 if self.shift is None else self.shift)) / self.scale

    def raw_features(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Penultimate-layer activations before centring and scaling."""
        x = np.asarray(images, np.float32)
        if x.shape[1:] != (self.image_size, self.image_size, self.channels):
            raise ValueError(
                f"The feature extractor '{self.name}' expects images of shape "
                f"(N, {self.image_size}, {self.image_size}, {self.channels}), got {x.shape}."
            )
        if self.resize_to is not None:  # InceptionV3: grey → RGB, resize
            import tensorflow as tf

            out = []
            for start in range(0, len(x), 64):
                b = tf.image.resize(x[start : start + 64], (self.resize_to, self.resize_to))
                if b.shape[-1] == 1:
                    b = tf.repeat(b, 3, axis=-1)
                out.append(np.asarray(self.model(b, training=False)))
            return np.concatenate(out).astype(np.float64)
        return predict_logits(self.model, x, batch_size).astype(np.float64)


def _feature_model(classifier):
    import keras

    model = keras.Model(classifier.inputs[0], classifier.get_layer(FEATURE_LAYER).output)
    model.trainable = False
    return model


def _load_cached(path: Path, meta_path: Path, shape: tuple[int, int, int]):
    """``(classifier, info)`` from the cache, or None (with a warning) when the entry is cut,
    damaged or unsafe: the caller rebuilds it. Read under the entry's shared lock."""
    import keras

    with cachefiles.file_lock(path, shared=True):
        if not (path.is_file() and meta_path.is_file()):
            return None
        try:
            info = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(info, dict) or not {"feature_shift", "feature_scale"} <= info.keys():
                raise ValueError("its metadata lacks the feature shift and scale")
            # safe_mode refuses Lambda layers (code inside the file); keep it on for a cache file
            classifier = keras.saving.load_model(path, compile=False, safe_mode=True)
            if tuple(classifier.inputs[0].shape[1:]) != shape:
                raise ValueError(f"it expects images of shape {tuple(classifier.inputs[0].shape[1:])}")
            classifier.get_layer(FEATURE_LAYER)
        except Exception as err:  # noqa: BLE001 - any failure to read a cache entry means: rebuild it
            warnings.warn(f"the cached feature extractor {path.name} is cut, damaged or unsafe "
                          f"({type(err).__name__}: {str(err)[:200]}); rebuilding it.", stacklevel=3)
            return None
    return classifier, info


def classifier_feature_extractor(
    images: np.ndarray,
    labels: np.ndarray | None,
    dataset_name: str,
    epochs: int = 12,
    cache: bool = True,
    seed: int = 0,
    verbose: bool = True,
) -> FeatureExtractor:
    """Train (or load from the cache) the kit's feature classifier on the real train split.

    With integer labels it learns the classes; with multi-hot labels (ChestMNIST)
    a multi-label head; without labels it learns to predict image rotations
    (self-supervised). The trained model is frozen and cached per dataset, size
    and pixel fingerprint.
    """

    n, size, _, channels = images.shape
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in dataset_name)[:40]
    key = f"{safe_name}-{size}px-{channels}ch-n{n}-e{epochs}-s{seed}-{fingerprint(images)}"
    folder = config.cache_dir() / "feature_extractors"
    path = folder / f"{key}.keras"
    meta_path = folder / f"{key}.json"
    info: dict = {}
    loaded = _load_cached(path, meta_path, (size, size, channels)) if cache else None
    if loaded is not None:
        classifier, info = loaded
        info["cached"] = True
    else:
        multilabel = labels is not None and np.asarray(labels).ndim == 2
        if labels is None:
            x, y = _rotation_task(images)
            num_classes, task = 4, "rotation (self-supervised, no labels given)"
        elif multilabel:
            x, y = images, np.asarray(labels)
            num_classes, task = y.shape[1], "multi-label classification"
        else:
            x, y = images, np.asarray(labels).astype(np.int64)
            num_classes, task = int(y.max()) + 1, "classification"
        if verbose:
            print(f"Training the evaluation feature classifier on {len(x)} real train images "
                  f"({task}, {epochs} epochs) — done once per dataset, then cached.")
        classifier = fit_classifier(x, y, num_classes, epochs=epochs, seed=seed, multilabel=multilabel)
        logits = predict_logits(classifier, x)
        train_acc = (
            float(np.mean((logits > 0) == (y > 0.5))) if multilabel else float(np.mean(logits.argmax(1) == y))
        )
        info = {"task": task, "epochs": epochs, "train_samples": int(len(x)), "train_accuracy": train_acc,
                "dataset": dataset_name, "cached": False}
    extractor = FeatureExtractor(
        model=_feature_model(classifier),
        name=f"kit classifier ({dataset_name}, {size} px, penultimate layer)",
        image_size=size,
        channels=channels,
        info=info,
    )
    if "feature_shift" not in info:
        # centre on the real train features and scale to unit average variance, so that
        # FD/KID land on a readable scale (the polynomial KID kernel explodes otherwise)
        raw = extractor.raw_features(images)
        info["feature_shift"] = raw.mean(0).tolist()
        info["feature_scale"] = float(np.sqrt(raw.var(0).mean()) or 1.0)
        if cache:  # the model, then its metadata (the sign that the entry is whole), under the lock
            folder.mkdir(parents=True, exist_ok=True)
            with cachefiles.file_lock(path):
                fileio.save_atomically(classifier.save, path)
                fileio.write_json(meta_path, info)
    extractor.shift = np.asarray(info["feature_shift"], np.float64)
    extractor.scale = float(info["feature_scale"])
    return extractor


def inception_feature_extractor(image_size: int, channels: int) -> FeatureExtractor:
    """InceptionV3 pool features — only when its ImageNet weights are already on disk.

    Nothing is downloaded. The numbers are labelled as not comparable with
    published FIDs (grey images, few samples, different resizing).
    """
    import keras

    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    weights = keras_home / "models" / INCEPTION_WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(
            f"InceptionV3 weights not found at {weights}. The kit never downloads them; "
            "use feature_extractor='classifier' (the default), or place the file there by hand."
        )
    model = keras.applications.InceptionV3(include_top=False, weights=str(weights), pooling="avg",
                                           input_shape=(299, 299, 3))
    model.trainable = False
    return FeatureExtractor(
        model=model,
        name="InceptionV3 (ImageNet) — not comparable with published FID",
        image_size=image_size,
        channels=channels,
        info={"weights": str(weights)},
        resize_to=299,
    )
