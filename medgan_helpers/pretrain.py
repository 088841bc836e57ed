"""Train and export the shipped pretrained generator (brain-mri, 64 px, conditional).

Usage::

    python -m medgan_helpers.pretrain [--out data/pretrained/brain-mri-64] [--epochs N] [--seed S]

It trains with the kit's own ``training.train`` (the same code the notebooks
use), then keeps ONLY what sampling needs, as a run folder of kind "pretrained"
(``runs.RunFolder``):

- ``generator_ema.weights.h5``  the EMA generator's weights (rebuilt in code from
                                ``config.json``: loads on every supported Keras)
- ``config.json``               build settings, latent size, classes, training facts
- ``samples.png``               a grid: one column per class
- ``MODEL_CARD.md``             command, steps, wall time, machine, losses; an
                                "Evaluation" section the maintainers fill in

``runs.load_generator(out)`` (and ``training.load_latest_or_pretrained``) load it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

DATASET, IMAGE_SIZE = "brain-mri", 64
DEFAULT_EPOCHS = 60


def _default_out() -> Path:
    from medgan_helpers import config

    return config.pretrained_dir() / f"{DATASET}-{IMAGE_SIZE}"


def _machine() -> str:
    cores = os.cpu_count() or 0
    cpu = platform.processor() or platform.machine()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{cores}-core CPU ({cpu})" + (f" + {len(gpus)} GPU" if gpus else "")


MODEL_CARD = """# Pretrained generator: {dataset}, {size} px, conditional

A small class-conditional DCGAN-style generator trained by the kit's own
training code on the `{dataset}` training split, shipped so that a class can
start sampling in seconds (notebooks 05/06, `widgets.Sampler`).

![samples](samples.png)

*One column per class ({classes}); rows are different latent vectors (seeds 0–3).*

## How it was made

```bash
{command}
```

| | |
| --- | --- |
| date | {date} |
| machine | {machine} |
| TensorFlow / Keras | {tf_version} / {keras_version} |
| training images | {num_images} ({dataset}, split `train`, {size}×{size}×{channels}) |
| epochs | {epochs} |
| steps (generator updates) | {steps} ({steps_per_epoch} per epoch, batch {batch_size}) |
| wall time | {wall} |
| loss | {loss}, DiffAugment `{augment}`, spectral norm on D, EMA decay {ema_decay} |
| optimisers | Adam, G lr {g_lr}, D lr {d_lr}, betas ({beta_1}, {beta_2}) |
| generator | {g_params:,} parameters, base_filters {g_base_filters}, max_filters {max_filters}, latent_dim {latent_dim} |
| file | `generator_ema.weights.h5`, {file_mb:.1f} MB |
| final losses | d_loss {d_loss:.3f}, g_loss {g_loss:.3f} (mean over the last epoch) |
| final health | D accuracy real {d_real_acc:.2f} / fake {d_fake_acc:.2f}; sample diversity {diversity} of real |

Files: `generator_ema.weights.h5` (the exponential-moving-average generator's
weights), `config.json` (the `models.build_generator` settings that rebuild it,
plus latent size, classes and image size), `samples.png`. The kit rebuilds the
network in code and loads the weights, which works on every Keras the kit
supports (a `.keras` file would carry Keras-version-specific layer configs).

```python
from medgan_helpers import runs
sampler = runs.load_generator("data/pretrained/{dataset}-{size}")
images = sampler.generate(16, labels="{first_class}", seed=0)   # float32 in [-1, 1]
```

## Intended use and limits

For teaching and for exploring GANs. The training data is a population-average
brain template (MNI ICBM152 2009a) resliced into many slightly different planes:
the generator draws *template-like* slices, not patient anatomy, and must never
be used for diagnosis or as a stand-in for patient data. Licence of the training
data: ICBM 2009a copyright notice (see `data/README.md`).

## Evaluation

<!-- EVALUATION: to be filled in by the maintainers from
     evaluation.evaluate_run("data/pretrained/{dataset}-{size}") (FD, KID,
     precision/recall/density/coverage against train and test, MS-SSIM diversity,
     memorisation, TSTR vs TRTR). Until then: not yet evaluated. -->

*Not yet evaluated — numbers will be added here.*
"""


def export(result, out: Path, command: str) -> Path:
    """Write the sampling-only files of a finished ``training.train`` result into ``out``."""
    import keras
    import numpy as np
    import tensorflow as tf

    from medgan_helpers import pictures, runs

    gan, run = result.gan, result.run
    trained = run.config
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run.path / runs.EMA_WEIGHTS, out / runs.EMA_WEIGHTS)
    history = result.history
    health = (result.health.records or [{}])[-1]
    knobs = trained["knobs"]
    info = {
        "command": command,
        "epochs": len(history.get("d_loss", [])) or knobs["epochs"],
        "steps": trained["steps"],
        "seconds": result.seconds,
        "machine": _machine(),
        "knobs": knobs,
        "final": {k: (v[-1] if v else None) for k, v in history.items()},
    }
    target = runs.RunFolder(out)
    target.write_config(
        kind="pretrained", dataset=trained["dataset"], image_size=trained["image_size"],
        channels=trained["channels"], status="finished", created=trained["created"],
        models={"generator": trained["models"]["generator"]},
        gan={k: trained["gan"][k] for k in ("latent_dim", "num_classes", "class_names", "image_size", "channels")},
        info=info,
    )

    # samples: one column per class, seeds 0..3 as rows
    n_classes = gan.num_classes or 1
    z = np.concatenate([np.repeat(gan.sample_latent(1, seed=s), n_classes, 0) for s in range(4)])
    labels = np.tile(np.arange(n_classes), 4) if gan.num_classes else None
    grid = pictures.image_grid(gan.generate_from_latent(z, labels), columns=n_classes)
    pictures.save_png(grid, out / "samples.png", scale=2)

    final = info["final"]
    ratio = health.get("diversity_ratio")
    card = MODEL_CARD.format(
        dataset=trained["dataset"],
        size=gan.image_size,
        channels=gan.channels,
        classes=", ".join(gan.class_names or []),
        first_class=(gan.class_names or ["0"])[0],
        command=command,
        date=_today(),
        machine=info["machine"],
        tf_version=tf.__version__,
        keras_version=keras.__version__,
        num_images=trained["num_images"],
        epochs=info["epochs"],
        steps=info["steps"],
        steps_per_epoch=trained["steps_per_epoch"],
        batch_size=knobs["batch_size"],
        wall=f"{result.seconds / 60:.1f} min",
        loss=knobs["loss"],
        augment=knobs["augment"],
        ema_decay=knobs["ema_decay"],
        g_lr=knobs["g_lr"],
        d_lr=knobs["d_lr"],
        beta_1=knobs["beta_1"],
        beta_2=knobs["beta_2"],
        g_params=gan._sampling_model().count_params(),
        g_base_filters=knobs["g_base_filters"],
        max_filters=knobs["max_filters"],
        latent_dim=knobs["latent_dim"],
        file_mb=(out / runs.EMA_WEIGHTS).stat().st_size / 1e6,
        d_loss=final.get("d_loss") or float("nan"),
        g_loss=final.get("g_loss") or float("nan"),
        d_real_acc=health.get("d_real_acc", float("nan")),
        d_fake_acc=health.get("d_fake_acc", float("nan")),
        diversity=f"{ratio:.2f}x" if ratio else "n/a",
    )
    pictures.write_atomic(out / "MODEL_CARD.md", card.encode("utf-8"))
    return out


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def main(argv: list[str] | None = None) -> Path:
    """Command-line entry point: train, export, print where the files went."""
    parser = argparse.ArgumentParser(prog="python -m medgan_helpers.pretrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default data/pretrained/brain-mri-64)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"training epochs (default {DEFAULT_EPOCHS})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--keep-run", action="store_true", help="keep the full training run in artifacts/runs")
    args = parser.parse_args(argv)

    from medgan_helpers import data, training

    out = args.out or _default_out()
    command = "python -m medgan_helpers.pretrain" + (f" --out {args.out}" if args.out else "") + f" --epochs {args.epochs}"
    if args.seed:
        command += f" --seed {args.seed}"
    images = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train")
    result = training.train(images, resume=False, verbose=2, display=False,
                            **training.default_config() | {"epochs": args.epochs, "seed": args.seed})
    export(result, out, command)
    if not args.keep_run:
        shutil.rmtree(result.run.path, ignore_errors=True)
    print(f"Pretrained generator written to {out.name} ({result.seconds / 60:.1f} min)")
    return out


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
