"""medgan_helpers — the code the MedGAN teaching-kit notebooks lean on.

The front door, ``import medgan_helpers as mg``: the handful of verbs a notebook uses.

- ``mg.load_dataset(source, image_size=64, split="train")`` → an ``ImageSet``
  (``data.load_dataset``: ``"brain-mri"``, a MedMNIST flag or ``"folder:/path"``)
- ``mg.train(images, epochs=...)`` → a ``TrainResult`` with its run folder
  (``training.train``; every knob from ``recipe``)
- ``mg.load_run(run_dir)`` → a sampler of a saved run or the shipped pretrained
  model (``runs.load_generator``; ``.generate(n, labels=None, seed=0)``)
- ``mg.evaluate(real_train, real_test, fake, labels)`` → an ``EvaluationReport``
  (``evaluation.evaluate``; ``options=mg.EvalOptions.quick()`` or single options as keywords)
- ``mg.evaluate_run(run_dir)`` → the same report for a saved run, written into its
  folder (``evaluation.evaluate_run``)
- ``mg.export_synthetic(sampler, n)`` → a labelled synthetic dataset with its data
  card (``synthetic.export_synthetic``)
- ``mg.SamplerWidget(model)`` → the interactive sampler of notebook 06 (``widgets.SamplerWidget``)

Each verb is the function of the module named beside it, not a copy. Behind the
door, one module (or small subpackage) per stage of the flow
``data -> tf.data -> GAN.train_step -> run folder -> evaluation -> sampler``; they
stay importable for the notebooks that teach their insides:

- ``data/``       medical image sources -> ``ImageSet`` -> ``tf.data``
- ``recipe``      the default hyper-parameters (one source for models, training, notebooks)
- ``models``      the generator G and the discriminator D (Keras 3 functional; G's anti-speckle
                  layers, a binomial blur and pixel norm, in ``generator_layers``)
- ``augment``     DiffAugment (differentiable augmentation of real and fake images)
- ``losses``      the adversarial losses, plain functions chosen by name
- ``step_parts``  the bookkeeping every ``train_step`` shares (free functions)
- ``gan``         the ``GAN`` model with its ``train_step`` (ADA; composes ``losses``, ``step_parts``)
- ``callbacks``   sample grids, the NaN guard, the training-health monitor
- ``training``    ``train()``: ImageSet -> GAN.fit -> run folder, in one call
- ``train_cli``   the command-line trainer (``medgan-train``), also across machines
- ``runs``        the run folder: config.json, weights, loading, scan
- ``runlock``     the run lock (atomic create, heartbeat, stale rules)
- ``fileio``      JSON and atomic file helpers
- ``evaluation/`` fidelity, diversity, memorisation, utility and realism (a two-sample
                  classifier, spectrum, intensity) metrics (and image quality
                  of paired outputs: PSNR, SSIM, sharpness, invented detail)
- ``sampling``    the sampler protocol, latents, interpolation, latent directions
- ``explorer``    the sampler's state without a widget (latents, directions, nearest real)
- ``pictures``    image grids, strips and PNG files
- ``widgets``     the ipywidgets sampler (the view only)
- ``accel``       picks the device strategy, mixed precision and XLA
- ``config``      paths (cache, artifacts, pretrained), quick mode, seeding
- ``exercises``   check functions for the notebook exercises
- ``colab``       the notebooks' setup cell at run time (installs on Colab only)
- ``synthetic``, ``own_data``, ``privacy_audit``, ``demo``  notebook 07: exports, curation,
                  the privacy audit, the demo folder of real scans
- ``pix2pix``     image-to-image (notebook 08; its U-Net G and PatchGAN D in ``pix2pix_models``,
                  its figure and sample-grid callback in ``pix2pix_views``)
- ``segmentation`` the U-Net segmenter (pix2pix's U-Net blocks), Dice + cross-entropy loss,
                  per-class Dice and HD95, ``train_segmenter``
- ``diffusion``   a class-conditional diffusion model beside the GAN (notebook 10): cosine
                  schedule, noise-prediction ``train_step``, DDIM sampler with classifier-free
                  guidance; its U-Net denoiser in ``diffusion_models``, ``train()`` into run
                  folders in ``diffusion_training``
- ``deform``      elastic + affine deformations that move an image and its label map together
- ``mask_synthesis`` mask-to-image synthesis: pix2pix from one-hot label maps to T1-like
                  slices, new masks by deformation, synthetic (image, mask) pairs

Repository jobs (the main job and notebook executor ``runner``, ``pretrain`` for
the shipped generator, the notebooks' Colab badge and setup-cell source) live in
``medgan_helpers.jobs``; the library never imports them.

Everything is imported lazily, so ``import medgan_helpers`` stays fast and does
not pull in TensorFlow until a verb or a module that needs it is used.
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
    "generator_layers",
    "augment",
    "losses",
    "step_parts",
    "gan",
    "callbacks",
    "training",
    "train_cli",
    "runs",
    "runlock",
    "fileio",
    "accel",
    "evaluation",
    "pix2pix_models",
    "pix2pix_views",
    "sampling",
    "explorer",
    "pictures",
    "widgets",
    "exercises",
    "colab",
    "synthetic",
    "own_data",
    "privacy_audit",
    "demo",
    "pix2pix",
    "segmentation",
    "deform",
    "mask_synthesis",
    "seg_experiment",
    "diffusion_models",
    "diffusion",
    "diffusion_training",
)

#: The front door: verb -> (module, name). Resolved on first use, then kept.
VERBS = {
    "load_dataset": ("data", "load_dataset"),
    "train": ("training", "train"),
    "load_run": ("runs", "load_generator"),
    "evaluate": ("evaluation", "evaluate"),
    "EvalOptions": ("evaluation", "EvalOptions"),
    "evaluate_run": ("evaluation", "evaluate_run"),
    "export_synthetic": ("synthetic", "export_synthetic"),
    "SamplerWidget": ("widgets", "SamplerWidget"),
}

__all__ = [*VERBS, *_SUBMODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in VERBS:
        module, attribute = VERBS[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
