"""The kit's default hyper-parameters: one typed config per model family, built by one function each.

- :class:`GANConfig` (``gan_config(quick=False, **overrides)``): every knob of a
  GAN training run, with its default value, plus what the data decides (image
  size, channels, classes). It also says how to build G and D
  (:meth:`GANConfig.generator_settings` / :meth:`GANConfig.discriminator_settings`).
- :class:`Pix2PixConfig` (``pix2pix_config(...)``): the same for image-to-image
  translation (notebook 08).
- :class:`DiffusionConfig` (``diffusion_config(...)``): the same for the
  class-conditional diffusion model (``diffusion``, notebook 10).

A config makes the whole round trip unchanged: recipe -> ``training.train`` ->
``GAN(config=...)`` -> ``GAN.get_config()`` in the run's config.json ->
``runs.load_gan`` / ``load_generator`` (``GAN.from_config``). ``GAN_QUICK`` /
``PIX2PIX_QUICK`` hold the few values that shrink a run for the tests and a
first look. Nothing here reads the environment: the notebooks' parameter cells
(and the tests) decide whether to ask for the quick values (``MEDGAN_QUICK=1``).

Where a value comes from is measured, not guessed: ``benchmarks/ablation.py``
compares each choice with its alternatives (RESULTS.md has the table). The
recipe until 2026-11 (``benchmarks/ablation.OLD``: transposed convolutions,
DiffAugment with 1/8 shifts on every image, Adam betas 0.5/0.999, 30 epochs)
left D at chance and two classes collapsed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

_Config = TypeVar("_Config", bound="_Settings")


class _Settings:
    """What both families' configs share: knobs vs data facts, overrides, the JSON form."""

    #: fields that the data (or the way the model is called) decides, not the recipe
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ()
    FAMILY: ClassVar[str] = ""
    LABEL: ClassVar[str] = ""  #: how error messages name the knobs ("training", "pix2pix")

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in cls.DATA_FIELDS)

    def knobs(self) -> dict[str, Any]:
        """The training knobs as a new dict (what ``train(**knobs)`` takes)."""
        return {name: getattr(self, name) for name in self.knob_names()}

    def replace(self: _Config, **changes: Any) -> _Config:
        """A copy with ``changes``; an unknown name raises a ``ValueError`` listing the known ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown {self.LABEL} knob(s) {unknown}; known knobs: {sorted(self.knob_names())}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (what a run's config.json keeps), with the model family."""
        from medgan_helpers.fileio import json_ready

        return {"family": self.FAMILY, **json_ready(dataclasses.asdict(self))}

    @classmethod
    def from_dict(cls: type[_Config], saved: dict[str, Any]) -> _Config:
        """The config a ``to_dict()`` (or an older run's config.json section) describes.

        Names this kit no longer knows are left out (a newer or older run stays
        loadable); missing ones take the recipe's value. JSON lists come back as tuples.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in known}
        return cls(**values)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class _ClassConditional:
    """What the families that draw from noise share (GAN, diffusion): conditioning on the data's classes."""

    def for_data(self: _Config, image_size: int, channels: int,
                 class_names: list[str] | tuple[str, ...] = ()) -> _Config:
        """This config for images of ``image_size`` px and ``channels``; conditional on ``class_names``
        when the recipe asks for it (``conditional``) and there are at least two."""
        names = tuple(class_names) if self.conditional and len(class_names) >= 2 else ()
        return self.replace(image_size=int(image_size), channels=int(channels),
                            num_classes=len(names) or None, class_names=names)


@dataclass(frozen=True)
class GANConfig(_ClassConditional, _Settings):
    """Every setting of a GAN and its training run: the recipe's knobs and what the data decides."""

    # schedule
    epochs: int = 60                 # passes over the training images (60 x 75 = 4500 steps on brain-mri)
    batch_size: int = 32
    max_images: int | None = None    # None = all training images; else an evenly spaced subset
    steps_per_epoch: int | None = None  # None = one pass over the images per epoch
    # the two networks (models.build_generator / build_discriminator)
    latent_dim: int = 64
    g_base_filters: int = 16         # width of G's last block; doubles towards z
    d_base_filters: int = 16         # width of D's first block; doubles towards the logit
    max_filters: int = 128
    upsampling: str = "nearest"      # "nearest", "bilinear" or "blur" (upsample [+ binomial blur] + 3x3 conv),
                                     # or "transpose" (4x4 stride-2)
    g_norm: str = "batch"            # G's normalisation: "batch" or "pixel" (ProGAN's pixel norm, no batch stats)
    g_block_convs: int = 1           # 3x3 convolutions per G block: 1 = DCGAN, 2 = ProGAN/StyleGAN
    conditioning: str = "embedding"  # how G sees the class: "embedding" (concat to z) or "cbn"
    spectral_norm: bool = True       # on every layer of D
    minibatch_std: bool = False      # D sees the spread of the batch (Karras et al. 2018)
    d_highpass: bool = False         # D also sees the image's high-frequency residual (speckle, streaks)
    conditional: bool = True         # class-conditional when the data has >= 2 classes
    # the game (gan.GAN)
    loss: str = "hinge"              # "hinge", "bce" (non-saturating) or "wgan-gp"
    gp_weight: float = 0.0           # WGAN-GP gradient penalty (10 is used with loss="wgan-gp")
    r1_weight: float = 0.0           # R1 penalty on D's gradient at real images (0 = off)
    r1_every: int = 4                # lazy R1: every k-th step, weighted by k
    diversity_weight: float = 0.0    # mode-seeking term against collapse within a class (0 = off)
    augment: str | tuple[str, ...] | None = "medical"  # DiffAugment policy (2 px shifts, cutout, brightness, contrast)
    ada_target: float | None = 0.6   # adaptive augmentation: p rises only while r_t = E[sign D(real)] > 0.6, i.e. D calls > 80 % of reals real
    ada_images: int = 20_000         # images over which ADA's p can move from 0 to 1
    ema_decay: float | None = 0.999  # EMA generator; None = sample from G itself
    d_steps: int = 1                 # D updates per G update
    # optimisers (Adam for both, two learning rates)
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.0              # no momentum: D and G react to each other's latest move
    beta_2: float = 0.99
    # bookkeeping
    seed: int = 0
    sample_every: int = 1            # epochs between sample grids
    steps_per_execution: int = 16    # train steps per call into TensorFlow (Keras' steps_per_execution): fewer
                                     # host round trips per step (benchmarks/throughput.py; RESULTS.md). Lowered
                                     # to a divisor of a fixed steps_per_epoch (training.train)
    # what the data decides (training.train fills these in from the ImageSet)
    image_size: int | None = None
    channels: int = 1
    num_classes: int | None = None   # None = unconditional
    class_names: tuple[str, ...] = ()

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("image_size", "channels", "num_classes", "class_names")
    FAMILY: ClassVar[str] = "gan"
    LABEL: ClassVar[str] = "training"

    def __post_init__(self):
        _check(int(self.d_steps) >= 1, f"d_steps={self.d_steps!r} must be >= 1.")
        _check(self.ema_decay is None or 0.0 < self.ema_decay < 1.0,
               f"ema_decay={self.ema_decay!r} must be in (0, 1), or None for no EMA.")
        _check(self.ada_target is None or 0.0 < self.ada_target < 1.0,
               f"ada_target={self.ada_target!r} must be in (0, 1) (0.6 in the ADA paper), or None.")
        _check(min(self.gp_weight, self.r1_weight, self.diversity_weight) >= 0 and int(self.r1_every) >= 1,
               "gp_weight, r1_weight and diversity_weight must be >= 0, and r1_every >= 1.")

    def generator_settings(self) -> dict[str, Any]:
        """The ``models.build_generator`` settings (with the registry's ``builder`` name)."""
        return {"builder": "models.build_generator", "image_size": self.image_size, "channels": self.channels,
                "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "base_filters": self.g_base_filters, "max_filters": self.max_filters,
                "upsampling": self.upsampling, "conditioning": self.conditioning, "norm": self.g_norm,
                "block_convs": self.g_block_convs}

    def discriminator_settings(self) -> dict[str, Any]:
        """The ``models.build_discriminator`` settings (with the registry's ``builder`` name)."""
        return {"builder": "models.build_discriminator", "image_size": self.image_size,
                "channels": self.channels, "num_classes": self.num_classes,
                "base_filters": self.d_base_filters, "max_filters": self.max_filters,
                "spectral_norm": self.spectral_norm, "minibatch_std": self.minibatch_std,
                "highpass": self.d_highpass}


@dataclass(frozen=True)
class Pix2PixConfig(_Settings):
    """Every setting of a pix2pix translation model and its training run (notebook 08, the benchmark)."""

    epochs: int = 12
    batch_size: int = 16
    max_pairs: int | None = None     # None = all pairs; else an evenly spaced subset
    g_base_filters: int = 16         # width of the U-Net's first block
    d_base_filters: int = 16         # width of the PatchGAN's first block
    max_filters: int = 128
    n_layers: int = 2                # PatchGAN's strided blocks: 34 px patches at 2
    upsampling: str = "transpose"    # the U-Net's decoder: "transpose" or "nearest"
    l1_weight: float = 100.0         # lambda: weight of the pixel-wise L1 loss (100 in pix2pix)
    loss: str = "bce"                # the adversarial pair: "bce" (as in the paper) or "hinge"
    ema_decay: float | None = 0.999
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    seed: int = 0
    # what the pairs (and the call of pix2pix.train) decide
    image_size: int | None = None    # side of the output
    input_size: int | None = None    # side of the input (smaller for super-resolution)
    in_channels: int = 2
    channels: int = 1
    adversarial: bool = True         # False: the L1-only baseline (no D)
    residual: bool = False           # G adds a correction to the bicubic input

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("image_size", "input_size", "in_channels", "channels",
                                              "adversarial", "residual")
    FAMILY: ClassVar[str] = "pix2pix"
    LABEL: ClassVar[str] = "pix2pix"

    def __post_init__(self):
        _check(self.ema_decay is None or 0.0 < self.ema_decay < 1.0,
               f"ema_decay={self.ema_decay!r} must be in (0, 1), or None for no EMA.")
        _check(self.l1_weight >= 0, f"l1_weight={self.l1_weight!r} must be >= 0.")

    def unet_settings(self) -> dict[str, Any]:
        """The ``pix2pix_models.build_unet`` settings (with the registry's ``builder`` name)."""
        return {"builder": "pix2pix.build_unet", "image_size": self.image_size, "in_channels": self.in_channels,
                "out_channels": self.channels, "input_size": self.input_size, "base_filters": self.g_base_filters,
                "max_filters": self.max_filters, "residual": self.residual, "upsampling": self.upsampling}

    def patch_discriminator_settings(self) -> dict[str, Any] | None:
        """The ``pix2pix_models.build_patch_discriminator`` settings; None for the L1-only baseline."""
        if not self.adversarial:
            return None
        return {"builder": "pix2pix.build_patch_discriminator", "image_size": self.image_size,
                "in_channels": self.in_channels, "out_channels": self.channels, "input_size": self.input_size,
                "base_filters": self.d_base_filters, "max_filters": self.max_filters, "n_layers": self.n_layers}


@dataclass(frozen=True)
class DiffusionConfig(_ClassConditional, _Settings):
    """Every setting of a class-conditional diffusion model and its training run (``diffusion``, notebook 10)."""

    epochs: int = 40
    batch_size: int = 32
    max_images: int | None = None    # None = all training images; else an evenly spaced subset
    steps_per_epoch: int | None = None  # None = one pass over the images per epoch
    # the denoiser (diffusion_models.build_denoiser)
    base_filters: int = 32           # width at full resolution; doubles per level
    max_filters: int = 128
    depth: int | None = None         # None = down to a 4x4 bottleneck
    time_dim: int = 64               # width of the sinusoidal time embedding
    conditional: bool = True         # class-conditional when the data has >= 2 classes
    # the process (Ho et al. 2020 with Nichol & Dhariwal's cosine schedule)
    timesteps: int = 1000            # T, the steps of the forward (noising) process
    schedule_offset: float = 0.008   # s of the cosine schedule: keeps the first steps' noise from vanishing
    label_dropout: float = 0.1       # classifier-free guidance: fraction of images trained as the null class
    ema_decay: float | None = 0.999  # EMA denoiser; None = sample from the network itself
    # optimiser (Adam)
    lr: float = 2e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    # sampling (DDIM, eta = 0): the sampler's defaults, also used for the sample grids and the health file
    sample_steps: int = 25           # denoising steps; each is one pass of the U-Net (x2 with guidance)
    guidance: float = 1.0            # 1 = the conditional model as trained; > 1 trades diversity for class
                                     # fidelity (Ho & Salimans 2022); 0 = unconditional
    health_steps: int = 10           # DDIM steps of the health file's samples (screened each epoch, not shown):
                                     # each step is one U-Net pass, so fewer keep the check cheap
    # bookkeeping
    seed: int = 0
    sample_every: int = 1            # epochs between sample grids
    steps_per_execution: int = 16    # as for the GAN (training._steps_per_execution)
    # what the data decides (diffusion.train fills these in from the ImageSet)
    image_size: int | None = None
    channels: int = 1
    num_classes: int | None = None   # None = unconditional
    class_names: tuple[str, ...] = ()

    #: the noise-prediction loss is Ho et al.'s simple mean squared error, the only one (runs.load_model reads it)
    loss: ClassVar[str] = "mse"
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("image_size", "channels", "num_classes", "class_names")
    FAMILY: ClassVar[str] = "diffusion"
    LABEL: ClassVar[str] = "diffusion"

    def __post_init__(self):
        _check(self.ema_decay is None or 0.0 < self.ema_decay < 1.0,
               f"ema_decay={self.ema_decay!r} must be in (0, 1), or None for no EMA.")
        _check(int(self.timesteps) >= 10, f"timesteps={self.timesteps!r} must be >= 10 (1000 in DDPM).")
        _check(1 <= int(self.sample_steps) <= int(self.timesteps),
               f"sample_steps={self.sample_steps!r} must be between 1 and timesteps={self.timesteps}.")
        _check(1 <= int(self.health_steps) <= int(self.timesteps),
               f"health_steps={self.health_steps!r} must be between 1 and timesteps={self.timesteps}.")
        _check(0.0 <= self.label_dropout < 1.0, f"label_dropout={self.label_dropout!r} must be in [0, 1).")
        _check(self.guidance >= 0.0, f"guidance={self.guidance!r} must be >= 0 (1 = no guidance).")
        _check(self.schedule_offset > 0.0, f"schedule_offset={self.schedule_offset!r} must be > 0 (0.008).")

    def denoiser_settings(self) -> dict[str, Any]:
        """The ``diffusion_models.build_denoiser`` settings (with the registry's ``builder`` name)."""
        return {"builder": "diffusion.build_denoiser", "image_size": self.image_size, "channels": self.channels,
                "num_classes": self.num_classes, "base_filters": self.base_filters,
                "max_filters": self.max_filters, "depth": self.depth, "time_dim": self.time_dim}


#: The GAN recipe's knobs and their defaults (read-only; the config is the source).
GAN_DEFAULTS: MappingProxyType = MappingProxyType(GANConfig().knobs())
#: What quick mode (``MEDGAN_QUICK=1``, the tests) changes: tiny networks, 512 images.
GAN_QUICK: MappingProxyType = MappingProxyType({
    "epochs": 3, "g_base_filters": 8, "d_base_filters": 8, "max_filters": 64, "max_images": 512,
})
#: The named presets of a GAN run: ``"full"`` is the recipe; ``"lab"`` fits a 90-minute class on a
#: 2-core CPU (10 epochs = 750 steps on brain-mri: the slices' outlines are there, the texture is
#: rougher than after 60; notebook 04 stores a timed run); ``"quick"`` is the tests' tiny run.
GAN_PRESETS: MappingProxyType = MappingProxyType({
    "full": MappingProxyType({}), "lab": MappingProxyType({"epochs": 10}), "quick": GAN_QUICK,
})
#: The pix2pix recipe's knobs and their defaults.
PIX2PIX_DEFAULTS: MappingProxyType = MappingProxyType(Pix2PixConfig().knobs())
#: What quick mode changes for pix2pix: tiny networks, 256 pairs, 2 epochs.
PIX2PIX_QUICK: MappingProxyType = MappingProxyType({
    "epochs": 2, "max_pairs": 256, "g_base_filters": 8, "d_base_filters": 8, "max_filters": 32,
})


#: The diffusion recipe's knobs and their defaults.
DIFFUSION_DEFAULTS: MappingProxyType = MappingProxyType(DiffusionConfig().knobs())
#: What quick mode changes for diffusion: a tiny denoiser, 256 images, 2 epochs, 5 sampling steps
#: (2 for the health file).
DIFFUSION_QUICK: MappingProxyType = MappingProxyType({
    "epochs": 2, "max_images": 256, "base_filters": 8, "max_filters": 16, "time_dim": 16, "sample_steps": 5,
    "health_steps": 2,
})


def _build(cls: type[_Config], quick_values: MappingProxyType, quick: bool, overrides: dict) -> _Config:
    unknown = sorted(set(overrides) - set(cls.knob_names()))
    if unknown:
        raise ValueError(f"unknown {cls.LABEL} knob(s) {unknown}; known knobs: {sorted(cls.knob_names())}.")
    return cls(**{**(quick_values if quick else {}), **overrides})


def gan_config(quick: bool = False, preset: str = "full", **overrides: Any) -> GANConfig:
    """The GAN recipe: the defaults, a preset's values (``quick=True`` is ``preset="quick"``), then
    ``overrides`` (knob names only).

    The one place a GAN's settings are made. ``loss="wgan-gp"`` without a
    ``gp_weight`` gets 10: WGAN-GP's critic needs its penalty (Gulrajani et al. 2017).
    """
    if preset not in GAN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; use one of {sorted(GAN_PRESETS)}.")
    cfg = _build(GANConfig, GAN_PRESETS["quick" if quick else preset], True, overrides)
    if cfg.loss == "wgan-gp" and not cfg.gp_weight:
        cfg = cfg.replace(gp_weight=10.0)
    return cfg


def pix2pix_config(quick: bool = False, **overrides: Any) -> Pix2PixConfig:
    """The pix2pix recipe: the defaults, the quick values if asked, then ``overrides`` (knob names only)."""
    return _build(Pix2PixConfig, PIX2PIX_QUICK, quick, overrides)


def diffusion_config(quick: bool = False, **overrides: Any) -> DiffusionConfig:
    """The diffusion recipe: the defaults, the quick values if asked, then ``overrides`` (knob names only)."""
    return _build(DiffusionConfig, DIFFUSION_QUICK, quick, overrides)


def knobs(quick: bool = False, preset: str = "full", **overrides: Any) -> dict[str, Any]:
    """The GAN recipe's knobs as a new dict (``gan_config(...).knobs()``), for ``train(**knobs)``."""
    return gan_config(quick, preset, **overrides).knobs()


def optimizers(cfg: GANConfig | Pix2PixConfig | dict[str, Any] | None = None):
    """``(g_optimizer, d_optimizer)``: Adam with the config's (default: the GAN recipe's) rates and betas."""
    import keras

    cfg = GANConfig() if cfg is None else cfg
    get = cfg.get if isinstance(cfg, dict) else lambda name: getattr(cfg, name)
    return tuple(keras.optimizers.Adam(get(rate), beta_1=get("beta_1"), beta_2=get("beta_2"))
                 for rate in ("g_lr", "d_lr"))
