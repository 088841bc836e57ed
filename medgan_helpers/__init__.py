"""medgan_helpers — the code the MedGAN teaching-kit notebooks lean on.

Modules, each with one job:

The flow ``data -> tf.data -> GAN.train_step -> run folder -> evaluation -> sampler``,
one module (or small subpackage) per stage:

- ``data/``       medical image sources -> ``ImageSet`` -> ``tf.data``
- ``recipe``      the default hyper-parameters (one source for models, training, notebooks)
- ``models``      the generator G and the discriminator D (Keras 3 functional)
- ``augment``     DiffAugment (differentiable augmentation of real and fake images)
- ``gan``         losses, the ``GAN`` model with its ``train_step`` (EMA, ADA, penalties)
- ``callbacks``   sample grids, the NaN guard, the training-health monitor
- ``training``    ``train()``: ImageSet -> GAN.fit -> run folder, in one call
- ``runs``        the run folder: config.json, weights, loading, scan
- ``runlock``     the run lock (atomic create, heartbeat, stale rules)
- ``evaluation/`` fidelity, diversity, memorisation, utility and realism (a two-sample
                  classifier, spectrum, intensity) metrics (and image quality
                  of paired outputs: PSNR, SSIM, sharpness, invented detail)
- ``sampling``    the sampler protocol, latents, interpolation, latent directions
- ``pictures``    image grids, strips and PNG files
- ``widgets``     the ipywidgets sampler (UI only)
- ``accel``       picks the device strategy, mixed precision and XLA
- ``config``      paths (cache, artifacts, pretrained), quick mode, seeding
- ``exercises``   check functions for the notebook exercises
- ``colab``       the notebooks' setup cell logic (installs on Colab only)

Also ``pix2pix`` (image-to-image, notebook 08; its U-Net G and PatchGAN D in
``pix2pix_models``) and ``train`` (the
command-line trainer, also across machines).

Repository jobs: ``runner`` (the main job, and the one notebook executor),
``pretrain`` (the shipped generator), ``synthetic``, ``own_data``, ``demo``.

Submodules are imported lazily so that ``import medgan_helpers`` stays fast and
does not pull in TensorFlow until a module that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "config",
    "data",
    "recipe",
    "models",
    "augment",
    "gan",
    "callbacks",
    "training",
    "runs",
    "runlock",
    "accel",
    "evaluation",
    "pix2pix_models",
    "sampling",
    "pictures",
    "widgets",
    "exercises",
    "colab",
    "runner",
    "synthetic",
    "own_data",
    "demo",
    "pix2pix",
    "train",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
