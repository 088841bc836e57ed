"""Realism where the eye looks: texture, fine detail and contrast, each against a real-vs-real floor.

The kit's feature space (``features``) belongs to a classifier trained to name the
slice level, so it sees level and outline and is nearly blind to speckle, blur or
flat grey/white contrast. These measures look at the pixels instead:

- :func:`classifier_two_sample_test` (Lopez-Paz & Oquab, 2017): a *fresh* small CNN
  learns "real or generated?" on one half of each set and is scored on the other
  half, over several seeds. Held-out accuracy 0.5 = it cannot tell them apart;
  the **floor** is the same test between two disjoint halves of the real train
  split (≈ 0.5, plus the noise of a finite sample). It also returns the generated
  images the classifier is most sure are fake: a picture of what gives them away.
- :func:`radial_power_spectrum` and :func:`high_frequency_ratio` (Durall et al.,
  2020): power of the 2-D FFT averaged over rings of equal spatial frequency, and
  the energy above half the Nyquist frequency (> 0.25 cycles per pixel),
  generated / real. Noise and speckle push the ratio above 1, blur below.
- :func:`intensity_quantile_distance`: the distribution of intensities *inside the
  body* (see :func:`body_mask`), compared as the mean absolute difference of its
  1st…99th percentiles (a discrete Wasserstein-1 distance, in [-1, 1] units).
  Flat contrast, a brightness shift or washed-out tissue make it grow.

:func:`realism` computes all three with their floors (the group
``results["realism"]`` of ``evaluate``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medgan_helpers.evaluation.features import predict_logits

#: Spatial frequency (cycles per pixel) above which energy counts as "high": half the Nyquist 0.5.
HF_CUTOFF = 0.25
#: A pixel is inside the body when brighter than the background level plus this (5 % of [-1, 1]).
BACKGROUND_MARGIN = 0.1
#: Percentiles compared by the intensity distance (1st … 99th).
QUANTILES = np.linspace(0.01, 0.99, 99)
#: Fewest images per set the two-sample test accepts (each half then holds ≥ 10).
MIN_TWO_SAMPLE = 20


# ============================================================================ spectrum
def _grey(images: Any) -> np.ndarray:
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be N×H×W×C, got shape {x.shape}.")
    return x.mean(axis=-1)


def _power(images: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-image power spectra |FFT|² / (H·W)² (so they sum to the mean squared pixel), and
    the radial frequency (cycles per pixel) of every FFT bin."""
    x = _grey(images)
    h, w = x.shape[1:]
    power = np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2 / (h * w) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    return power, np.sqrt(fx**2 + fy**2)


def radial_power_spectrum(images: Any) -> tuple[np.ndarray, np.ndarray]:
    """The radially averaged power spectrum of a set of images.

    Returns ``(frequency, power)``: frequency in cycles per pixel (0 … 0.5, one bin
    per integer ring radius of the FFT), and the power averaged over the ring and
    over the images. Plot it on a log scale: real MRI falls steeply; noise or
    upsampling artefacts show as a raised or bumpy tail.
    """
    power, radius = _power(images)
    size = _grey(images[:1]).shape[1]
    ring = np.rint(radius * size).astype(int).ravel()
    n_rings = size // 2 + 1
    mean_power = power.mean(axis=0).ravel()
    keep = ring < n_rings
    sums = np.bincount(ring[keep], weights=mean_power[keep], minlength=n_rings)
    counts = np.bincount(ring[keep], minlength=n_rings)
    return np.arange(n_rings) / size, sums / np.maximum(counts, 1)


def high_frequency_energy(images: Any, cutoff: float = HF_CUTOFF) -> np.ndarray:
    """Energy per pixel above ``cutoff`` cycles per pixel, one value per image (one batched FFT)."""
    power, radius = _power(images)
    return power[:, radius > cutoff].sum(axis=1)


def high_frequency_ratio(fake: Any, real: Any, cutoff: float = HF_CUTOFF) -> float:
    """Mean high-frequency energy of ``fake`` / that of ``real`` (1 = as much fine detail as real;
    noise and speckle > 1, blur < 1)."""
    real_energy = float(high_frequency_energy(real, cutoff).mean())
    return float(high_frequency_energy(fake, cutoff).mean()) / max(real_energy, 1e-12)


# ============================================================================ intensity
def background_level(real: Any) -> float:
    """The background intensity of a real set: its 0.1st percentile (−1 for the kit's skull-stripped MRI)."""
    return float(np.percentile(np.asarray(real, np.float32), 0.1))


def body_mask(images: Any, level: float = -1.0, margin: float = BACKGROUND_MARGIN) -> np.ndarray:
    """True for pixels inside the body: brighter than the background ``level`` by more than ``margin``.

    Skull-stripped MRI (and most medical images) have a dark, flat background, so a
    threshold a little above its level keeps the tissue. The level comes from the
    *real* images (:func:`background_level`) and is used for both sets, so a
    generator with a grey background is measured with its grey pixels inside.
    """
    return np.asarray(images) > level + margin


def body_intensities(images: Any, level: float = -1.0, margin: float = BACKGROUND_MARGIN) -> np.ndarray:
    """All intensities inside the body (:func:`body_mask`), pooled over the images and channels."""
    x = np.asarray(images, np.float32)
    values = x[body_mask(x, level, margin)]
    if values.size == 0:
        raise ValueError(
            f"no pixel of these {len(x)} images is brighter than the background level {level:.2f} + {margin}: "
            "they are all background. Check that the images are in [-1, 1] and show anatomy."
        )
    return values


def intensity_quantile_distance(fake: Any, real: Any, level: float | None = None,
                                margin: float = BACKGROUND_MARGIN) -> float:
    """Mean absolute difference of the 1st…99th percentiles of the intensities inside the body.

    A discrete Wasserstein-1 distance between the two intensity distributions, in the
    [-1, 1] units of the images. ``level``: the background level (default: from ``real``).
    """
    level = background_level(real) if level is None else level
    q_fake = np.quantile(body_intensities(fake, level, margin), QUANTILES)
    q_real = np.quantile(body_intensities(real, level, margin), QUANTILES)
    return float(np.mean(np.abs(q_fake - q_real)))


def intensity_histogram(images: Any, level: float = -1.0, bins: int = 60,
                        margin: float = BACKGROUND_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """``(bin_edges, density)`` of the intensities inside the body (for a plot)."""
    edges = np.linspace(level + margin, 1.0, bins + 1)
    density, _ = np.histogram(body_intensities(images, level, margin), bins=edges, density=True)
    return edges, density


# ============================================================================ two-sample test
def _resized(images: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size == images.shape[1]:
        return images
    import tensorflow as tf

    return np.asarray(tf.image.resize(images, (size, size), method="area"), np.float32)


def build_two_sample_cnn(image_size: int, channels: int, width: int = 16):
    """The fresh small CNN of the two-sample test: a full-resolution 3×3 convolution, three strided
    ones, each with batch normalisation, global average pooling and two logits.

    Unlike the feature classifier (``features.build_classifier``), the first layer
    keeps every pixel and batch normalisation rescales faint signals: without it
    a few epochs are not enough to pick up noise of 2–5 % of the range.
    """
    import keras

    layers = keras.layers
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = inputs
    for i, (filters, stride) in enumerate(((width, 1), (width, 2), (2 * width, 2), (2 * width, 2))):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"norm{i}")(x)
        x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, name="logits")(x), name="two_sample_cnn")


def _fit_two_sample_cnn(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int, width: int,
                        batch_size: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = build_two_sample_cnn(images.shape[1], images.shape[3], width)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    # After a few hundred steps the running statistics of batch normalisation still lag
    # far behind the weights (held-out accuracy drops to 0.5 with them). Recompute them
    # exactly, once, on the whole training half (momentum 0: the new value replaces the
    # old). Scoring then uses fixed statistics: no held-out image affects another's score.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(images, training=True)
    return model


def two_sample_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0, epochs: int = 5,
                        width: int = 16, batch_size: int = 32) -> tuple[float, np.ndarray, np.ndarray]:
    """Train a fresh small CNN on half of ``a`` (label 0) and half of ``b`` (label 1), score the rest.

    Returns the held-out accuracy (on equal numbers of ``a`` and ``b`` images), the
    indices into ``b`` of its held-out half and the classifier's probability that
    each of those is a ``b`` image.
    """
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    pa, pb = rng.permutation(len(a))[:n], rng.permutation(len(b))[:n]
    half = n // 2
    train_x = np.concatenate([a[pa[:half]], b[pb[:half]]]).astype(np.float32)
    model = _fit_two_sample_cnn(train_x, np.repeat([0, 1], half), epochs, seed, width, batch_size)
    held_a, held_b = pa[half : 2 * half], pb[half : 2 * half]
    logits = predict_logits(model, np.concatenate([a[held_a], b[held_b]]))
    p_b = 0.5 * (1.0 + np.tanh(0.5 * (logits[:, 1] - logits[:, 0])))  # softmax of two logits, overflow-free
    truth = np.repeat([0, 1], len(held_a))
    return float(np.mean((p_b > 0.5) == truth)), held_b, p_b[len(held_a):]


def classifier_two_sample_test(
    real: Any,
    fake: Any,
    seeds: tuple[int, ...] = (0, 1, 2),
    epochs: int = 5,
    max_images: int = 1000,
    image_size: int | None = None,
    width: int = 16,
    n_most_fake: int = 8,
    floor: bool = True,
) -> dict[str, Any]:
    """Can a fresh CNN tell ``fake`` from ``real``? Held-out accuracy with its real-vs-real floor.

    Both tests use the same number of images per set, ``n = min(len(fake),
    len(real) // 2, max_images)``: generated vs real train, and (the floor) two
    disjoint real subsets. Each trains on one half and scores the other half, once
    per seed. ``image_size`` downsamples first (area average) to save time; note
    that it also averages fine noise away. Returns accuracy / floor mean and std,
    the per-seed values, and ``most_fake``: the generated images with the highest
    held-out probability of being fake (index into ``fake``, probability).
    ``floor=False`` skips the real-vs-real test (half the time; its values are then None).
    """
    real_x, fake_x = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    n = min(len(fake_x), len(real_x) // 2, max_images)
    if n < MIN_TWO_SAMPLE:
        raise ValueError(
            f"the classifier two-sample test needs at least {MIN_TWO_SAMPLE} generated images and "
            f"{2 * MIN_TWO_SAMPLE} real ones, got {len(fake_x)} and {len(real_x)}. Generate more images "
            "or call evaluate(..., realism=False)."
        )
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed (three or more for a spread).")
    real_small, fake_small = _resized(real_x, image_size), _resized(fake_x, image_size)
    p_sum, p_count = np.zeros(len(fake_x)), np.zeros(len(fake_x))
    accuracies, floors = [], []
    for seed in seeds:
        rng = np.random.default_rng(10_000 + seed)
        pick_fake = np.sort(rng.choice(len(fake_x), n, replace=False))
        order = rng.permutation(len(real_x))
        acc, held, p = two_sample_accuracy(real_small[np.sort(order[:n])], fake_small[pick_fake], seed, epochs, width)
        accuracies.append(acc)
        np.add.at(p_sum, pick_fake[held], p)
        np.add.at(p_count, pick_fake[held], 1)
        if floor:
            floors.append(two_sample_accuracy(real_small[np.sort(order[:n])], real_small[np.sort(order[n : 2 * n])],
                                              seed, epochs, width)[0])
    seen = np.flatnonzero(p_count)
    p_mean = p_sum[seen] / p_count[seen]
    top = seen[np.argsort(-p_mean)][:n_most_fake]
    return {
        "accuracy": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies)),
        "floor": float(np.mean(floors)) if floors else None, "floor_std": float(np.std(floors)) if floors else None,
        "per_seed": [float(a) for a in accuracies], "floor_per_seed": [float(f) for f in floors],
        "seeds": [int(s) for s in seeds], "epochs": int(epochs), "n_per_set": int(n),
        "image_size": int(real_small.shape[1]),
        "most_fake": [{"generated_index": int(i), "p_fake": float(p_sum[i] / p_count[i])} for i in top],
    }


# ============================================================================ the group
def realism(
    fake: np.ndarray,
    real: np.ndarray,
    seeds: tuple[int, ...] = (0, 1, 2),
    epochs: int = 5,
    max_images: int = 1000,
    image_size: int | None = None,
    seed: int = 0,
) -> tuple[dict, dict]:
    """The classifier two-sample test, spectrum and intensity, each with its real-halves floor.

    ``fake`` and ``real`` (the real train split) are float32 N×H×W×C in [-1, 1].
    Returns (numbers for the JSON, arrays for the pictures).
    """
    halves = np.random.default_rng(seed).permutation(len(real))
    half_a, half_b = real[np.sort(halves[: len(real) // 2])], real[np.sort(halves[len(real) // 2 :])]
    level = background_level(real)
    out: dict[str, Any] = {
        "classifier": classifier_two_sample_test(real, fake, seeds, epochs, max_images, image_size),
        "spectrum": {"hf_ratio": high_frequency_ratio(fake, real), "hf_ratio_floor": high_frequency_ratio(half_b, half_a),
                     "cutoff_cycles_per_pixel": HF_CUTOFF},
        "intensity": {"quantile_distance": intensity_quantile_distance(fake, real, level),
                      "quantile_distance_floor": intensity_quantile_distance(half_b, half_a, level),
                      "background_level": level, "margin": BACKGROUND_MARGIN,
                      "body_fraction_real": float(body_mask(real, level).mean()),
                      "body_fraction_fake": float(body_mask(fake, level).mean())},
    }
    freq, p_real = radial_power_spectrum(real)
    _, p_fake = radial_power_spectrum(fake)
    edges, h_real = intensity_histogram(real, level)
    _, h_fake = intensity_histogram(fake, level)
    raw = {"spectrum_freq": freq, "spectrum_real": p_real, "spectrum_fake": p_fake,
           "intensity_edges": edges, "intensity_real": h_real, "intensity_fake": h_fake}
    return out, raw
