"""A gallery of GAN failure modes, each one a real short training run (notebook 09).

Every case trains the same conditional GAN on brain-mri (64 px) with the
kit's recipe (``recipe.gan_config``: nearest-neighbour upsampling + 3x3
convolutions, hinge loss, spectral norm on D, the gentle ``medical``
augmentation steered by ADA, EMA, Adam (0.0, 0.99)) for the same number of
steps, changing **one** thing:

==================  =====================================================================
case                what changes
==================  =====================================================================
``baseline``        nothing: the kit's recipe
``transpose``       G upsamples with 4x4 stride-2 transposed convolutions (the recipe's
                    choice until 2026-11; notebook 02)
``k3s2``            G upsamples with 3x3 stride-2 transposed convolutions, the last of
                    which draws the image (uneven overlap: a checkerboard; DCGAN-style)
``no-sn-strong-d``  a strong D: no spectral normalisation, twice as wide, 4x its learning
                    rate, no augmentation; BCE losses (the non-saturating G loss)
``saturating``      the same strong D, and the *saturating* minimax G loss
                    log(1 - D(G(z))) instead of the non-saturating one
``d-lr-x10``        a wrong learning rate: D's 10x the recipe's (2e-3)
``collapse``        a collapse: G's learning rate 10x the recipe's (2e-3)
==================  =====================================================================

Every case changes one thing against ``baseline``, except ``saturating``, which
changes one thing against ``no-sn-strong-d`` (the saturating loss fails when D
wins, so it gets the strong D). For each case it stores under ``docs/gallery/`` a sample grid (``<case>.png``: the
same 16 latents, one column per class, 64 px per image) and, in
``gallery.json``, the settings, the wall time, the training-health record of
every epoch (``callbacks.TrainingHealth``: D's accuracies, gradient norms,
per-class diversity, fine detail against real, the collapse and D-at-chance alarms), a "grid strength"
of the samples (the share of their fine detail that repeats with period 2 or 4
pixels: the transposed-convolution fingerprint) and a "checkerboard strength"
(period 2 only). ``real.png`` is a grid of real training images at the same
scale; ``<case>_zoom.png`` the centre of one sample enlarged 6 times. Notebook 09 shows these files, so it renders
without re-running anything; its live cell calls :func:`run_case` on one case.

Usage::

    python benchmarks/failure_gallery.py                       # every case, 12 epochs x 75 steps
    python benchmarks/failure_gallery.py --cases baseline k3s2 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "gallery"

#: A discriminator that wins: no spectral norm, twice as wide, 4x the learning rate, no augmentation.
STRONG_D = {"spectral_norm": False, "d_width": 2, "d_lr_factor": 4.0, "augment": None, "loss": "bce"}

#: What makes the collapse case collapse (one line; also in the module's table).
COLLAPSE_WHAT = "G's learning rate x10 (2e-3)"

#: case -> (one line on what changes, the settings that change). The settings are
#: ``recipe.GANConfig`` knobs, plus four that only the gallery needs: ``d_width``
#: (D's widths x this), ``g_lr_factor`` / ``d_lr_factor`` (learning rates x this) and
#: ``g_loss="saturating"``; ``upsampling="transpose-k3"`` builds :func:`k3_generator`.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("the kit's recipe", {}),
    "transpose": ("G upsamples with 4x4 stride-2 transposed convolutions", {"upsampling": "transpose"}),
    "k3s2": ("G upsamples with 3x3 stride-2 transposed convolutions, the last drawing the image",
             {"upsampling": "transpose-k3"}),
    "no-sn-strong-d": ("a strong D: no spectral norm, 2x wide, 4x learning rate, no augmentation (BCE)",
                       STRONG_D),
    "saturating": ("the same strong D, and the saturating G loss log(1 - D(G(z)))",
                   {**STRONG_D, "g_loss": "saturating"}),
    "d-lr-x10": ("D's learning rate x10", {"d_lr_factor": 10.0}),
    "collapse": (COLLAPSE_WHAT, {"g_lr_factor": 10.0}),
}
#: the settings that are not recipe knobs
GALLERY_ONLY = ("d_width", "g_lr_factor", "d_lr_factor", "g_loss")
IMAGE_SIZE = 64
BATCH_SIZE = 32


def grid_strength(images: np.ndarray, period: int = 4) -> float:
    """Share of the images' fine detail that repeats every ``period`` pixels in both directions.

    The fine detail is each image minus the mean of its 3x3 neighbourhood. Its
    average over all pixels with the same (row mod p, column mod p) position is
    the part that repeats with period p (which includes period 2 when p = 4).
    Returns mean(repeating part^2) / mean(detail^2) over the images: near
    p^2 / pixels (0.004 at 64 px) for detail without a grid, up to 1 for a pure grid.
    """
    x = np.asarray(images, np.float64)[..., 0]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    blur = sum(padded[:, 1 + dy: 1 + dy + x.shape[1], 1 + dx: 1 + dx + x.shape[2]]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9.0
    detail = x - blur
    n, h, w = detail.shape
    phases = detail[:, : h - h % period, : w - w % period].reshape(n, h // period, period, w // period, period)
    repeating = phases.mean(axis=(1, 3))  # n x p x p
    total = (detail**2).mean(axis=(1, 2))
    return float(np.mean((repeating**2).mean(axis=(1, 2)) / np.maximum(total, 1e-12)))


def k3_generator(image_size: int, channels: int, latent_dim: int, num_classes: int | None,
                 base_filters: int, max_filters: int):
    """The kit's generator with 3x3 (instead of 4x4) stride-2 transposed convolutions, DCGAN-style:
    the last one draws the image itself (no 3x3 convolution after it to smooth its uneven overlap)."""
    import keras
    from keras import layers

    from medgan_helpers import models

    start, n_blocks = models.SUPPORTED_SIZES[image_size]
    z = keras.Input(shape=(latent_dim,), name="z")
    inputs, x = [z], z
    if num_classes is not None:
        label = keras.Input(shape=(1,), dtype="int32", name="label")
        inputs.append(label)
        embedded = layers.Flatten()(layers.Embedding(num_classes, 32)(label))
        x = layers.Concatenate()([z, embedded])
    width = min(base_filters * 2**n_blocks, max_filters)
    x = layers.Dense(start * start * width, use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(layers.Reshape((start, start, width))(x)))
    for block in range(n_blocks - 1):
        width = min(base_filters * 2 ** (n_blocks - 1 - block), max_filters)
        x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2DTranspose(channels, 3, strides=2, padding="same", dtype="float32")(x)
    image = layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(inputs if len(inputs) > 1 else z, image, name="generator_k3s2")


def case_config(case: str, imageset, seed: int = 0, quick: bool = False):
    """The recipe's ``GANConfig`` for one case (its knob changes applied, learning rates scaled), for ``imageset``."""
    from medgan_helpers import recipe

    _, change = CASES[case]
    knobs = {k: v for k, v in change.items() if k not in GALLERY_ONLY}
    if knobs.get("upsampling") == "transpose-k3":
        del knobs["upsampling"]  # not a recipe choice: build_case builds k3_generator instead
    cfg = recipe.gan_config(quick=quick, seed=seed, **knobs)
    cfg = cfg.replace(g_lr=cfg.g_lr * change.get("g_lr_factor", 1.0), d_lr=cfg.d_lr * change.get("d_lr_factor", 1.0))
    return cfg.for_data(IMAGE_SIZE, imageset.channels, imageset.class_names)


def build_case(case: str, imageset, seed: int = 0, quick: bool = False):
    """The GAN of one case, compiled, and the loss name its health monitor should use."""
    from medgan_helpers import gan, losses, models, recipe

    _, change = CASES[case]
    cfg = case_config(case, imageset, seed=seed, quick=quick)
    if change.get("upsampling") == "transpose-k3":
        G = k3_generator(IMAGE_SIZE, cfg.channels, cfg.latent_dim, cfg.num_classes, cfg.g_base_filters,
                         cfg.max_filters)
    else:
        G = models.build_generator(**{k: v for k, v in cfg.generator_settings().items() if k != "builder"})
    width = change.get("d_width", 1)
    d_settings = {k: v for k, v in cfg.discriminator_settings().items() if k != "builder"}
    d_settings.update(base_filters=max(2, int(cfg.d_base_filters * width)),
                      max_filters=int(cfg.max_filters * max(1, width)))
    D = models.build_discriminator(**d_settings)
    model = gan.GAN(G, D, config=cfg)
    g_loss_fn = losses.g_loss_saturating if change.get("g_loss") == "saturating" else None
    d_loss_fn = losses.get(cfg.loss)[0] if g_loss_fn is not None else None
    model.compile(*recipe.optimizers(cfg), loss=cfg.loss, d_loss_fn=d_loss_fn, g_loss_fn=g_loss_fn)
    return model, cfg.loss


def run_case(case: str, imageset, epochs: int = 12, steps_per_epoch: int = 75, seed: int = 0,
             quick: bool = False, verbose: bool = False) -> dict[str, Any]:
    """Train one case for real; return its final sample grid (uint8), health records and numbers."""
    from medgan_helpers import callbacks, config, data

    config.seed_everything(seed)
    model, loss = build_case(case, imageset, seed=seed, quick=quick)
    stream = data.to_tf_dataset(imageset, batch_size=BATCH_SIZE, seed=seed).repeat()
    health = callbacks.TrainingHealth(real=imageset, loss=loss, verbose=verbose)
    grid = callbacks.SampleGrid(None, n=4 * len(imageset.class_names), display=False)
    start = time.time()
    fit = model.fit(stream, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=[health, grid],
                    verbose=0, shuffle=False)
    seconds = time.time() - start
    samples = model.generate(64, seed=seed + 1)
    return {
        "case": case,
        "what": CASES[case][0],
        "settings": {k: v for k, v in CASES[case][1].items()},
        "loss": loss if CASES[case][1].get("g_loss") != "saturating" else "bce / saturating G",
        "steps": int(model.g_optimizer.iterations.numpy()),
        "seconds": round(seconds, 1),
        "grid": grid.grid_now(),
        "records": health.records,
        "history": {k: [float(v) for v in values] for k, values in fit.history.items()},
        "grid_strength": grid_strength(samples),
        "checkerboard_strength": grid_strength(samples, period=2),
        "zoom": zoom(samples[1]),
    }


def zoom(image: np.ndarray, crop: int = 32, scale: int = 6) -> np.ndarray:
    """The central ``crop`` x ``crop`` pixels of one image, enlarged ``scale`` times (uint8): fine texture made visible."""
    from medgan_helpers import data

    h, w = image.shape[:2]
    top, left = (h - crop) // 2, (w - crop) // 2
    pixels = data.to_uint8(image[top: top + crop, left: left + crop])[..., 0]
    return np.kron(pixels, np.ones((scale, scale), np.uint8))


def real_grid(imageset, per_class: int = 4) -> np.ndarray:
    """Real training images laid out like the sample grids (one column per class)."""
    from medgan_helpers import pictures

    rng = np.random.default_rng(0)
    columns = [np.sort(rng.choice(np.flatnonzero(imageset.labels == k), per_class, replace=False))
               for k in range(len(imageset.class_names))]
    return pictures.image_grid(imageset.batch_images(np.stack(columns, 1).ravel()),
                               columns=len(imageset.class_names))


#: recipe knobs that only schedule or log a run (the gallery sets its own length and seed)
BOOKKEEPING = ("epochs", "max_images", "steps_per_epoch", "seed", "sample_every", "steps_per_execution")


def recipe_facts() -> dict[str, Any]:
    """The recipe the baseline case trains (``recipe.gan_config()``'s knobs that shape the run).

    Stored in ``gallery.json`` under ``setup.recipe``: a test compares it with today's
    recipe, so a recipe change that leaves the gallery stale is caught.
    """
    from medgan_helpers import fileio, recipe

    knobs = recipe.gan_config().knobs()
    return fileio.json_ready({k: v for k, v in knobs.items() if k not in BOOKKEEPING})


def _clean(value):
    """JSON-ready: floats rounded, NaN -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--steps-per-epoch", type=int, default=75)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=GALLERY)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from medgan_helpers import callbacks, data, pictures

    images = data.load_dataset("brain-mri", image_size=IMAGE_SIZE, split="train", seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    index_path = args.out / "gallery.json"
    stored = json.loads(index_path.read_text()) if index_path.is_file() else {"cases": {}}
    pictures.save_png(real_grid(images), args.out / "real.png")
    real_sample = images.batch_images(np.random.default_rng(1).choice(len(images), 64, replace=False))
    stored["real"] = {"grid_strength": round(grid_strength(real_sample), 4),
                      "checkerboard_strength": round(grid_strength(real_sample, period=2), 4),
                      "diversity": round(callbacks.sample_diversity(real_sample), 4)}
    pictures.save_png(zoom(images.batch_images([np.flatnonzero(images.labels == 1)[0]])[0]), args.out / "real_zoom.png")
    stored["setup"] = {"dataset": "brain-mri", "image_size": IMAGE_SIZE, "batch_size": BATCH_SIZE,
                       "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "seed": args.seed,
                       "recipe": recipe_facts(),
                       "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
                       "command": f"python benchmarks/failure_gallery.py --epochs {args.epochs} "
                                  f"--steps-per-epoch {args.steps_per_epoch} --seed {args.seed}"}
    for case in args.cases:
        print(f"{case}: {CASES[case][0]} …", flush=True)
        result = run_case(case, images, args.epochs, args.steps_per_epoch, args.seed)
        pictures.save_png(result.pop("grid"), args.out / f"{case}.png")
        pictures.save_png(result.pop("zoom"), args.out / f"{case}_zoom.png")
        stored["cases"][case] = _clean(result)
        last = result["records"][-1]
        print(f"  {result['steps']} steps in {result['seconds']:.0f} s · "
              f"{callbacks.TrainingHealth.describe(last)} · grid strength {result['grid_strength']:.3f}",
              flush=True)
        index_path.write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
