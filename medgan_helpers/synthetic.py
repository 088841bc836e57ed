"""Export a labelled synthetic dataset from a trained generator.

:func:`export_synthetic` writes, into ``<artifacts>/synthetic/<name>/``:

- ``images/<NN>_<slug>/<index>.png`` — the generated images (8-bit PNG), one folder per
  class, named by class index plus a safe ASCII slug of its name (``00_t1-post``,
  ``01_class`` for a name with no ASCII letters), so two classes never share a folder;
- ``labels.csv`` — ``file,label,class_name`` for every image;
- ``DATA_CARD.md`` and ``data_card.json`` — a card that says, first, that the
  images are **synthetic** and which model family made them (a GAN or a
  diffusion model: :func:`model_family`), then which model and run, with which seed
  and truncation, what the model was trained on, and its evaluation summary
  (memorisation / privacy first) when one is given.

Nothing is written anywhere else, and never into a data folder.
"""

from __future__ import annotations

import csv
import io
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from medgan_helpers import config, data, fileio
from medgan_helpers.pictures import save_png, write_atomic


def export_synthetic(
    sampler: Any,
    n_per_class: int,
    *,
    name: str | None = None,
    seed: int = 0,
    truncation: float | None = None,
    source: str = "",
    run_dir: str | Path | None = None,
    evaluation: dict | None = None,
    out_root: str | Path | None = None,
) -> Path:
    """Generate ``n_per_class`` images per class (or in all, if unconditional) and save them.

    Args:
        sampler: a model with the sampler protocol (``generate``, ``num_classes``,
            ``class_names``, ``image_size``, ``channels``) — a ``gan.GAN`` or
            ``sampling.GeneratorModel``.
        n_per_class: images per class (total for an unconditional model).
        name: folder name under ``<artifacts>/synthetic/`` (default: a timestamp).
        seed, truncation: passed to ``sampler.generate``; recorded in the card.
        source: what the model was trained on: a dataset name (``ImageSet.name``,
            opaque for your own folders), never a path.
        run_dir: the training run; only its folder name is recorded in the card.
        evaluation: a summary dict (e.g. ``EvaluationReport.headline``) for the card.
        out_root: override ``<artifacts>/synthetic``.
    Returns:
        The export folder.
    """
    if not hasattr(sampler, "generate"):
        raise TypeError(
            f"export_synthetic needs a trained model with .generate(); got "
            f"{type(sampler).__name__}. Load one with runs.load_generator(run_dir)."
        )
    if str(source).startswith("folder:") or "/" in str(source) or "\\" in str(source):
        raise ValueError(
            "source looks like a path: the card records the dataset's name "
            "(ImageSet.name, an opaque id for your own folders), never a path.")
    if int(n_per_class) < 1:
        raise ValueError(f"n_per_class={n_per_class!r}: ask for at least one image per class.")
    family = model_family(sampler)  # an unknown family fails before anything is written
    root = Path(out_root) if out_root is not None else config.artifacts_dir() / "synthetic"
    # a sanitised name: "../x" or "a/b" can never leave the export folder
    folder = root / fileio.slug(name or time.strftime("synthetic-%Y%m%d-%H%M%S"))
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} already holds an export; pick another name.")
    (folder / "images").mkdir(parents=True, exist_ok=True)

    num_classes = getattr(sampler, "num_classes", None)
    class_names = list(getattr(sampler, "class_names", None) or [])
    if num_classes and len(class_names) != num_classes:
        class_names = [f"class_{i}" for i in range(num_classes)]
    folders = class_folders(class_names) if num_classes else []
    rows = []
    groups = range(num_classes) if num_classes else [None]
    for group in groups:
        labels = None if group is None else np.full(int(n_per_class), group, np.int64)
        images = sampler.generate(
            int(n_per_class), labels=labels, seed=seed + (group or 0), truncation=truncation
        )
        class_name = "synthetic" if group is None else class_names[group]
        subdir = folder / "images" / ("synthetic" if group is None else folders[group])
        for i, image in enumerate(data.to_uint8(images)):
            file = save_png(image, subdir / f"{i:05d}.png")
            rows.append(
                {"file": file.relative_to(folder).as_posix(),
                 "label": "" if group is None else group, "class_name": class_name}
            )
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=["file", "label", "class_name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(folder / "labels.csv", table.getvalue().encode("utf-8"))

    card = {
        "synthetic": True,
        "warning": f"These images were generated by {_FAMILY_NAMES[family]}. They are not scans of any "
        "patient and must not be used for diagnosis.",
        "model_family": family,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "images": len(rows),
        "image_size": getattr(sampler, "image_size", None),
        "channels": getattr(sampler, "channels", None),
        "classes": class_names or None,
        "per_class": int(n_per_class),
        "seed": seed,
        "truncation": truncation,
        "model": type(sampler).__name__,
        "trained_on": source,
        "run": Path(run_dir).name if run_dir is not None else None,
        "evaluation": evaluation,
        "generator": "medgan_helpers (MedGAN teaching kit)",
    }
    fileio.write_json(folder / "data_card.json", card)
    write_atomic(folder / "DATA_CARD.md", _card_markdown(card).encode("utf-8"))
    return folder


#: model family -> how the card names it ("generated by ...")
_FAMILY_NAMES = {"gan": "a GAN", "diffusion": "a diffusion model"}


def _made_by(card: dict) -> str:
    """The model's name, with its family when the name does not already say it ("GAN", not "GAN (a GAN)")."""
    family = _FAMILY_NAMES[card.get("model_family", "gan")]
    model = str(card["model"])
    return model if model.lower() in family.lower() else f"{model} ({family})"


def model_family(sampler: Any) -> str:
    """Which kind of model made the images, ``"gan"`` or ``"diffusion"``, for the data card.

    A sampler loaded from a run says so in its ``info["family"]`` (``runs.load_generator``);
    a model still in memory by its ``family`` attribute (``diffusion.Diffusion`` and its
    sampler have one); anything else is a generator network, a GAN's.
    """
    info = getattr(sampler, "info", None)
    family = (info.get("family") if isinstance(info, dict) else None) or getattr(sampler, "family", None) or "gan"
    if family not in _FAMILY_NAMES:
        raise ValueError(f"the sampler says its model family is {family!r}; the data card knows "
                         f"{', '.join(map(repr, _FAMILY_NAMES))}. Export a GAN or a diffusion model.")
    return family


def class_folders(class_names: list[str]) -> list[str]:
    """One folder name per class: zero-padded index + ASCII slug (``["T1 post", "肿瘤"]`` ->
    ``["00_t1-post", "01_class"]``).

    The index keeps look-alike names ("T1 post" / "T1_post") and names without ASCII
    apart; names that are the same class name twice (after Unicode normalisation) are
    refused, since ``labels.csv``'s class_name could not tell them apart.
    """
    seen: dict[str, int] = {}
    for index, name in enumerate(class_names):
        key = unicodedata.normalize("NFKC", str(name)).casefold().strip()
        if key in seen:
            raise ValueError(
                f"class {index} ({name!r}) and class {seen[key]} ({class_names[seen[key]]!r}) have the same "
                "name: an export could not tell them apart. Rename one (the model's class_names).")
        seen[key] = index
    width = max(2, len(str(len(class_names) - 1)))
    folders = []
    for index, name in enumerate(class_names):
        ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "class"
        folders.append(f"{index:0{width}d}_{slug}")
    if len({f.casefold() for f in folders}) != len(folders):  # cannot happen with the index; a guard
        raise ValueError(f"two classes would share an export folder: {folders}")
    return folders


def _card_markdown(card: dict) -> str:
    lines = [
        "# Synthetic dataset — data card",
        "",
        f"**{card['warning']}**",
        "",
        f"- images: {card['images']} ({card['per_class']} per class), "
        f"{card['image_size']}×{card['image_size']} px, {card['channels']} channel(s)",
        f"- classes: {', '.join(card['classes']) if card['classes'] else 'none (unconditional)'}",
        f"- made by: {_made_by(card)} from "
        f"{card['generator']}, seed {card['seed']}, "
        f"truncation {card['truncation']}",
        f"- trained on: {card['trained_on'] or 'not recorded'}",
        f"- training run: {card['run'] or 'not recorded'}",
        f"- created: {card['created']}",
        "- labels: `labels.csv` (file, label id, class name)",
        "",
        "## Privacy and evaluation",
        "",
    ]
    evaluation = card.get("evaluation")
    if evaluation:
        for key, value in evaluation.items():
            lines.append(f"- {key}: {value}")
    else:
        lines.append("- no evaluation was attached: check memorisation before sharing.")
    lines += [
        "",
        "No DICOM header field of the training data is stored here. "
        f"{_FAMILY_NAMES[card.get('model_family', 'gan')].capitalize()} can still",
        "reproduce a training image: read the memorisation numbers above before sharing.",
        "",
    ]
    return "\n".join(lines)
