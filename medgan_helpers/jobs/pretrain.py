"""Train and export the shipped pretrained models (brain-mri, 64 px, conditional): the GAN and the diffusion model.

Usage::

    python -m medgan_helpers.jobs.pretrain [--out data/pretrained/brain-mri-64] [--epochs N] [--seed S]
    python -m medgan_helpers.jobs.pretrain --family diffusion [--epochs N] [--evaluate]

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

``--family diffusion`` trains the class-conditional diffusion model of notebook 10
with ``diffusion_training.train`` (the recipe's ``recipe.DiffusionConfig``) into
``artifacts/diffusion/pretrain-brain-mri-64`` (an interrupted run continues there:
training takes about an hour on a 2-core CPU) and exports the same files into
``data/pretrained/brain-mri-64-diffusion``: the EMA denoiser's weights (same file
name: the network that draws), its build settings, samples drawn by DDIM and a card.
``runs.load_generator`` gives a ``diffusion.DiffusionSampler``: the same sampler
protocol as the GAN.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

DATASET, IMAGE_SIZE = "brain-mri", 64
PROG = "python -m medgan_helpers.jobs.pretrain"
DEFAULT_EPOCHS = 60
#: family -> (folder suffix under data/pretrained, default epochs); the diffusion model's epochs are its recipe's
FAMILIES = {"gan": ("", DEFAULT_EPOCHS), "diffusion": ("-diffusion", 40)}


def _default_out(family: str = "gan") -> Path:
    from medgan_helpers import config

    return config.pretrained_dir() / f"{DATASET}-{IMAGE_SIZE}{FAMILIES[family][0]}"


def _machine() -> str:
    cores = os.cpu_count() or 0
    cpu = platform.processor() or platform.machine()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{cores}-core CPU ({cpu})" + (f" + {len(gpus)} GPU" if gpus else "")


#: the start of both cards' "How it was made" table (GAN and diffusion)
_MADE_HEAD = """## How it was made

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
"""

MODEL_CARD = ("""# Pretrained generator: {dataset}, {size} px, conditional

A small class-conditional DCGAN-style generator trained by the kit's own
training code on the `{dataset}` training split, shipped so that a class can
start sampling in seconds (notebooks 05/06, `widgets.SamplerWidget`).

![samples](samples.png)

*One column per class ({classes}); rows are different latent vectors (seeds 0–3).*

""" + _MADE_HEAD + """| steps (generator updates) | {steps} ({steps_per_epoch} per epoch, batch {batch_size}) |
| wall time | {wall} |
| recipe | {recipe} |
| optimisers | Adam, G lr {g_lr}, D lr {d_lr}, betas ({beta_1}, {beta_2}) |
| generator | {g_params:,} parameters, base_filters {g_base_filters}, max_filters {max_filters}, latent_dim {latent_dim}, upsampling `{upsampling}`, conditioning `{conditioning}` |
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

{evaluation}
""")

EVALUATION = """Measured by `{command} --evaluate` (`evaluation.evaluate_run` on this folder,
{n} generated images, full settings; the report itself goes to
`artifacts/evaluations/pretrained-{name}/`, never into `data/`). Numbers are in the
kit's own feature space: not comparable with published FID values.

{headline}

Diversity within each class (MS-SSIM between random pairs of the same class;
lower = more varied; a generated value far above the real one is mode collapse):

| class | generated | real |
| --- | --- | --- |
{per_class}
"""


DIFFUSION_CARD = ("""# Pretrained diffusion model: {dataset}, {size} px, conditional

A small class-conditional diffusion model (DDPM training, DDIM sampling,
classifier-free guidance) trained by the kit's own `diffusion_training.train` on
the `{dataset}` training split: the alternative to the GAN that notebook 10 puts
beside it, shipped so that the comparison costs seconds, not an hour of training.

![samples](samples.png)

*One column per class ({classes}); rows are different starting noises (seeds 0–3);
DDIM, {sample_steps} steps, guidance {guidance}.*

""" + _MADE_HEAD + """| steps (denoiser updates) | {steps} ({steps_per_epoch} per epoch, batch {batch_size}) |
| wall time | {wall} |
| process | noise-prediction loss (Ho et al. 2020), cosine schedule (Nichol & Dhariwal 2021), T = {timesteps}; class hidden for {label_dropout:.0%} of images (classifier-free guidance, Ho & Salimans 2022); EMA decay {ema_decay} |
| optimiser | Adam, lr {lr}, betas ({beta_1}, {beta_2}) |
| denoiser | U-Net, {params:,} parameters, base_filters {base_filters}, max_filters {max_filters}, time embedding {time_dim} |
| sampling | DDIM (eta 0), {sample_steps} steps by default, each one pass of the U-Net (two with guidance ≠ 1) |
| file | `generator_ema.weights.h5` (the EMA denoiser), {file_mb:.1f} MB |
| final loss | {loss:.4f} (noise-prediction MSE, mean over the last epoch) |
| final health | sample diversity {diversity} of real; fine detail {detail} of real ({health_steps} DDIM steps) |

Files: `generator_ema.weights.h5` (the exponential-moving-average denoiser's
weights), `config.json` (the `diffusion_models.build_denoiser` settings and the
process's settings), `samples.png`.

```python
from medgan_helpers import runs
sampler = runs.load_generator("data/pretrained/{dataset}-{size}-diffusion")   # a diffusion.DiffusionSampler
images = sampler.generate(16, labels="{first_class}", seed=0, steps=25)   # float32 in [-1, 1]
```

## Intended use and limits

For teaching: the diffusion model beside the GAN (notebook 10). The training
data is a population-average brain template (MNI ICBM152 2009a) resliced into
many slightly different planes: it draws *template-like* slices, not patient
anatomy, and must never be used for diagnosis or as a stand-in for patient data.
Diffusion models can reproduce training images (Carlini et al. 2023; Somepalli
et al. 2023): the Evaluation below reports the copy rate with the same
calibrated threshold as the GAN's card. Licence of the training data: ICBM
2009a copyright notice (see `data/README.md`).

## Evaluation

{evaluation}
""")


def _recipe_line(knobs: dict) -> str:
    parts = [f"{knobs['loss']} loss"]
    parts.append("spectral norm on D" if knobs["spectral_norm"] else "no spectral norm")
    if knobs["r1_weight"]:
        parts.append(f"R1 {knobs['r1_weight']} every {knobs['r1_every']} steps")
    if knobs["minibatch_std"]:
        parts.append("minibatch std in D")
    augment = f"augmentation `{knobs['augment']}`" if knobs["augment"] else "no augmentation"
    if knobs["augment"] and knobs["ada_target"] is not None:
        augment += f" steered by ADA (target {knobs['ada_target']})"
    parts.append(augment)
    if knobs["diversity_weight"]:
        parts.append(f"mode-seeking weight {knobs['diversity_weight']}")
    parts.append(f"EMA decay {knobs['ema_decay']}")
    return ", ".join(parts)


def _save_samples(sampler, out: Path) -> None:
    """``samples.png``: one column per class, starting latents of seeds 0..3 as rows (any sampler)."""
    import numpy as np

    from medgan_helpers import pictures

    n_classes = sampler.num_classes or 1
    z = np.concatenate([np.repeat(sampler.sample_latent(1, seed=s), n_classes, 0) for s in range(4)])
    labels = np.tile(np.arange(n_classes), 4) if sampler.num_classes else None
    grid = pictures.image_grid(sampler.generate_from_latent(z, labels), columns=n_classes)
    pictures.save_png(grid, out / "samples.png", scale=2)


def export(result, out: Path, command: str, evaluation_text: str = "*Not evaluated yet: run "
           "`python -m medgan_helpers.jobs.pretrain --evaluate-only`.*") -> Path:
    """Write the sampling-only files of a finished ``training.train`` result into ``out``."""
    import keras
    import tensorflow as tf

    from medgan_helpers import pictures, runs

    gan, run = result.gan, result.run
    trained = run.config
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("config.json", "generator_ema.keras"):  # a fresh export, not a merge with the old one
        (out / stale).unlink(missing_ok=True)
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

    _save_samples(gan, out)

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
        recipe=_recipe_line(knobs),
        upsampling=knobs["upsampling"],
        conditioning=knobs["conditioning"],
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
        evaluation=evaluation_text,
    )
    pictures.write_atomic(out / "MODEL_CARD.md", card.encode("utf-8"))
    return out


def diffusion_run_dir(seed: int = 0) -> Path:
    """Where ``--family diffusion`` trains (an interrupted run continues there)."""
    from medgan_helpers import diffusion

    return diffusion.runs_root() / (f"pretrain-{DATASET}-{IMAGE_SIZE}" + (f"-seed{seed}" if seed else ""))


def export_diffusion(run_path: Path, out: Path, command: str, evaluation_text: str = "*Not evaluated yet: run "
                     "`python -m medgan_helpers.jobs.pretrain --family diffusion --evaluate-only`.*") -> Path:
    """Write the sampling-only files of a finished diffusion run (``diffusion_training.train``) into ``out``."""
    import keras
    import tensorflow as tf

    from medgan_helpers import fileio, pictures, runs

    run = runs.RunFolder(run_path)
    trained = run.config
    if not run.finished or trained.get("family") != "diffusion" or trained.get("kind") != "run":
        raise ValueError(f"{run.path.name} is not a finished diffusion run: train it with "
                         f"{PROG} --family diffusion (it continues an interrupted run).")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").unlink(missing_ok=True)  # a fresh export, not a merge with the old one
    shutil.copyfile(run.path / runs.EMA_WEIGHTS, out / runs.EMA_WEIGHTS)
    history = fileio.read_json_object(run.path / "history.json") or {}
    knobs = trained["knobs"]
    info = {"command": command, "epochs": len(history.get("loss", [])) or knobs["epochs"],
            "steps": trained["steps"], "seconds": trained["seconds"], "machine": _machine(), "knobs": knobs,
            "final": {k: (v[-1] if v else None) for k, v in history.items()}}
    runs.RunFolder(out).write_config(
        kind="pretrained", family="diffusion", dataset=trained["dataset"], image_size=trained["image_size"],
        channels=trained["channels"], status="finished", created=trained["created"],
        models={"generator": trained["models"]["generator"]}, gan=trained["gan"], info=info)

    sampler = runs.load_generator(out)  # the export loads, and draws the grid
    _save_samples(sampler, out)

    health = json.loads((run.path / "health.json").read_text()) if (run.path / "health.json").is_file() else []
    last = health[-1] if isinstance(health, list) and health else {}
    ratio, detail = last.get("diversity_ratio"), last.get("hf_ratio")
    names = list(sampler.class_names or [])
    card = DIFFUSION_CARD.format(
        dataset=trained["dataset"], size=sampler.image_size, channels=sampler.channels,
        classes=", ".join(names), first_class=(names or ["0"])[0], command=command, date=_today(),
        machine=info["machine"], tf_version=tf.__version__, keras_version=keras.__version__,
        num_images=trained["num_images"], epochs=info["epochs"], steps=info["steps"],
        steps_per_epoch=trained["steps_per_epoch"], batch_size=knobs["batch_size"],
        wall=f"{info['seconds'] / 60:.1f} min", timesteps=knobs["timesteps"], label_dropout=knobs["label_dropout"],
        ema_decay=knobs["ema_decay"], lr=knobs["lr"], beta_1=knobs["beta_1"], beta_2=knobs["beta_2"],
        params=sampler._sampling_model().count_params(), base_filters=knobs["base_filters"],
        max_filters=knobs["max_filters"], time_dim=knobs["time_dim"], sample_steps=sampler.steps,
        guidance=sampler.guidance, health_steps=knobs["health_steps"],
        file_mb=(out / runs.EMA_WEIGHTS).stat().st_size / 1e6,
        loss=info["final"].get("loss") or float("nan"),
        diversity=f"{ratio:.2f}x" if ratio else "n/a", detail=f"{detail:.2f}x" if detail else "n/a",
        evaluation=evaluation_text)
    pictures.write_atomic(out / "MODEL_CARD.md", card.encode("utf-8"))
    return out


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def evaluate(out: Path, command: str, n_samples: int = 1000) -> str:
    """Evaluate the exported generator (full settings) and return the card's Evaluation text."""
    from medgan_helpers import evaluation

    report = evaluation.evaluate_run(out, evaluation.EvalOptions(n_samples=n_samples))
    headline = "\n".join(f"- **{key}**: {value}" for key, value in report.headline.items())
    per_class = "\n".join(
        f"| {name} | {c['fake_mean']:.3f} | {c['real_mean']:.3f} |"
        for name, c in (report.diversity.get("per_class") or {}).items())
    base = command.split(" --")[0] + (" --family diffusion" if "--family diffusion" in command else "")
    return EVALUATION.format(command=base, n=n_samples, name=out.name,
                             headline=headline, per_class=per_class).strip()


def _set_evaluation(out: Path, text: str) -> None:
    from medgan_helpers.pictures import write_atomic

    card = (out / "MODEL_CARD.md").read_text()
    head = card.split("## Evaluation")[0]
    write_atomic(out / "MODEL_CARD.md", (head + "## Evaluation\n\n" + text + "\n").encode("utf-8"))


def _shown(path: Path) -> str:
    """A path as the card may show it: relative to the checkout, else only its name (no machine paths)."""
    from medgan_helpers import config

    try:
        return path.resolve().relative_to(config.REPO_ROOT).as_posix() if config.REPO_ROOT else path.name
    except ValueError:
        return f".../{path.name}"


def _knob(text: str) -> tuple[str, object]:
    import json

    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv: list[str] | None = None) -> Path:
    """Command-line entry point: train, export, evaluate, print where the files went."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="gan",
                        help="gan (default) or diffusion (notebook 10's model)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default data/pretrained/brain-mri-64, with --family diffusion "
                             "data/pretrained/brain-mri-64-diffusion)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {DEFAULT_EPOCHS}; diffusion {FAMILIES['diffusion'][1]})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--knob", action="append", default=[], type=_knob, metavar="NAME=VALUE",
                        help="override one recipe knob (JSON value), e.g. --knob g_base_filters=24")
    parser.add_argument("--keep-run", action="store_true",
                        help="keep the full training run in artifacts/runs (artifacts/diffusion)")
    parser.add_argument("--evaluate", action="store_true", help="evaluate the export and write it into the card")
    parser.add_argument("--evaluate-only", action="store_true", help="only (re-)evaluate an existing export")
    args = parser.parse_args(argv)

    from medgan_helpers import data, diffusion_training, training

    family = args.family
    epochs = args.epochs if args.epochs is not None else FAMILIES[family][1]
    out = args.out or _default_out(family)
    command = PROG + (" --family diffusion" if family == "diffusion" else "")
    command += (f" --out {_shown(args.out)}" if args.out else "") + f" --epochs {epochs}"
    if args.seed:
        command += f" --seed {args.seed}"
    for key, value in args.knob:
        command += f" --knob {key}={value}"
    if args.evaluate_only:
        _set_evaluation(out, evaluate(out, command))
        print(f"Evaluation written into {out.name}/MODEL_CARD.md")
        return out
    images = data.load_dataset(DATASET, image_size=IMAGE_SIZE, split="train")
    shown = command + (" --evaluate" if args.evaluate else "")
    if family == "diffusion":
        # a fixed run folder: an hour of CPU training that crashes continues where it stopped
        result = diffusion_training.train(images, diffusion_run_dir(args.seed), resume=True, verbose=2,
                                          display=False, epochs=epochs, seed=args.seed, **dict(args.knob))
        export_diffusion(result.run.path, out, shown)
    else:
        knobs = training.default_config() | {"epochs": epochs, "seed": args.seed} | dict(args.knob)
        result = training.train(images, resume=False, verbose=2, display=False, **knobs)
        export(result, out, shown)
    if not args.keep_run:
        shutil.rmtree(result.run.path, ignore_errors=True)
    print(f"Pretrained {family} written to {out.name} ({result.seconds / 60:.1f} min)")
    if args.evaluate:
        _set_evaluation(out, evaluate(out, command))
        print(f"Evaluation written into {out.name}/MODEL_CARD.md")
    return out


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
