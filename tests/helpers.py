"""Tiny learnable data and tiny GANs shared by the tests (real training, seconds each)."""

from __future__ import annotations

import numpy as np

from medgan_helpers import data, gan, models

LATENT = 8
SIZE = 32


def blobs(n: int = 64, size: int = SIZE, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Discs whose radius depends on the class: something learnable, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    labels = rng.integers(0, classes, n)
    radius = 0.2 + 0.08 * labels[:, None, None] + 0.02 * rng.standard_normal((n, 1, 1))
    images = np.where(xx**2 + yy**2 < radius**2, 0.8, -1.0)[..., None]
    return images.astype("float32"), labels


def blob_set(n: int = 64, size: int = SIZE, classes: int | None = 3, seed: int = 0) -> data.ImageSet:
    images, labels = blobs(n, size, classes or 3, seed)
    return data.from_arrays(images, labels if classes else None, name="blobs")


def tiny_gan(num_classes: int | None = 3, loss: str = "hinge", size: int = SIZE, run_eagerly: bool = False,
             **kwargs) -> gan.GAN:
    G = models.build_generator(size, 1, LATENT, num_classes, base_filters=4, max_filters=16)
    D = models.build_discriminator(size, 1, num_classes, base_filters=4, max_filters=16)
    if loss == "wgan-gp":
        kwargs.setdefault("gp_weight", 10.0)
    model = gan.GAN(G, D, LATENT, num_classes, **kwargs)
    model.compile(loss=loss, run_eagerly=run_eagerly)
    return model


def tiny_knobs(**overrides) -> dict:
    """train() knobs for a model that trains in seconds."""
    return {"epochs": 2, "batch_size": 16, "g_base_filters": 4, "d_base_filters": 4, "max_filters": 8,
            "latent_dim": LATENT, **overrides}
