"""The kit's default hyper-parameters: one recipe, used by models, training and the notebooks.

``RECIPE`` holds every knob of a training run with its default value;
``QUICK`` the few values that shrink it for the tests and for a first look
(tiny models on 512 images). Nothing here reads the environment: the notebooks'
parameter cells (and the tests) decide whether to ask for the quick values,
with ``training.default_config(quick=...)`` when ``MEDGAN_QUICK=1``.

Where a value comes from is measured, not guessed: ``benchmarks/ablation.py``
compares each choice with its alternatives (RESULTS.md has the table). The
recipe until 2026-11 (``benchmarks/ablation.OLD``: transposed convolutions,
DiffAugment with 1/8 shifts on every image, Adam betas 0.5/0.999, 30 epochs)
left D at chance and two classes collapsed.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

RECIPE: MappingProxyType = MappingProxyType({
    # schedule
    "epochs": 60,                # passes over the training images (60 x 75 = 4500 steps on brain-mri)
    "batch_size": 32,
    "max_images": None,          # None = all training images; else an evenly spaced subset
    "steps_per_epoch": None,     # None = one pass over the images per epoch
    # the two networks (models.build_generator / build_discriminator)
    "latent_dim": 64,
    "g_base_filters": 16,        # width of G's last block; doubles towards z
    "d_base_filters": 16,        # width of D's first block; doubles towards the logit
    "max_filters": 128,
    "upsampling": "nearest",     # "nearest" or "bilinear" (upsample + 3x3 conv), or "transpose" (4x4 stride-2)
    "conditioning": "embedding",  # how G sees the class: "embedding" (concat to z) or "cbn"
    "spectral_norm": True,       # on every layer of D
    "minibatch_std": False,      # D sees the spread of the batch (Karras et al. 2018)
    "conditional": True,         # class-conditional when the data has >= 2 classes
    # the game (gan.GAN)
    "loss": "hinge",             # "hinge", "bce" (non-saturating) or "wgan-gp"
    "gp_weight": 0.0,            # WGAN-GP gradient penalty (10 is used with loss="wgan-gp")
    "r1_weight": 0.0,            # R1 penalty on D's gradient at real images (0 = off)
    "r1_every": 4,               # lazy R1: every k-th step, weighted by k
    "diversity_weight": 0.0,     # mode-seeking term against collapse within a class (0 = off)
    "augment": "medical",        # DiffAugment policy (gentle: 2 px shifts, cutout, brightness, contrast), or None
    "ada_target": 0.6,           # adaptive augmentation: p rises only while D calls > 60 % of reals real
    "ema_decay": 0.999,          # EMA generator; None = sample from G itself
    "d_steps": 1,                # D updates per G update
    # optimisers (Adam for both, two learning rates)
    "g_lr": 2e-4,
    "d_lr": 2e-4,
    "beta_1": 0.0,               # no momentum: D and G react to each other's latest move
    "beta_2": 0.99,
    # bookkeeping
    "seed": 0,
    "sample_every": 1,           # epochs between sample grids
    "steps_per_execution": 1,    # train steps per call into TensorFlow (Keras' steps_per_execution);
                                 # 4 or 16 measured 10-18 % faster at 32 px on a 2-core CPU (RESULTS.md)
})

#: What quick mode (``MEDGAN_QUICK=1``, the tests) changes: tiny networks, 512 images.
QUICK: MappingProxyType = MappingProxyType({
    "epochs": 3,
    "g_base_filters": 8,
    "d_base_filters": 8,
    "max_filters": 64,
    "max_images": 512,
})


def knobs(quick: bool = False, **overrides: Any) -> dict[str, Any]:
    """The recipe as a new dict: the defaults, the quick values if asked, then ``overrides``.

    Unknown names raise a ``ValueError`` listing the known ones.
    """
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise ValueError(f"unknown training knob(s) {unknown}; known knobs: {sorted(RECIPE)}.")
    cfg = dict(RECIPE)
    if quick:
        cfg.update(QUICK)
    cfg.update(overrides)
    return cfg


def optimizers(cfg: dict[str, Any] | None = None):
    """``(g_optimizer, d_optimizer)``: Adam with the recipe's (or ``cfg``'s) rates and betas."""
    import keras

    cfg = dict(RECIPE) if cfg is None else cfg
    return tuple(
        keras.optimizers.Adam(cfg[rate], beta_1=cfg["beta_1"], beta_2=cfg["beta_2"])
        for rate in ("g_lr", "d_lr")
    )
