"""The models on the front page's first section, and their real and generated strips.

``find_models`` lists the newest model of each family in the artifacts folder (the main
GAN run of notebooks 04/05, ``artifacts/diffusion``, ``artifacts/pix2pix``) and
every shipped model under ``data/pretrained`` (its family read from its
config.json, so a shipped diffusion model is found like the GAN). ``draw`` gives
real images of the model's own data beside generated ones in the same classes,
and ``save_strips`` writes each as one row of equal tiles. ``evaluation_rows``
finds a model's headline numbers (evaluation.json, a card JSON, the pretraining
job's report, or the model card's Evaluation list).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan_helpers import fileio, runs
from medgan_helpers.pictures import write_atomic

#: side of every tile in the side-by-side strips, in screen pixels (real and generated alike)
TILE = 96
#: images per class in a strip (classes in the model's order), or in all when unconditional
PER_CLASS = 2
UNCONDITIONAL_TILES = 8
#: model families in page order, with the notebook that trains each
FAMILIES = {
    "gan": "GAN (notebooks 04–06)",
    "diffusion": "Diffusion (notebook 10)",
    "pix2pix": "pix2pix: tissue maps → T1 slice (notebook 08)",
    "segmenter": "Segmenter and mask-to-image generator (notebook 11)",
}
#: the realism ruler's headline rows (``evaluation.realism_report.headline_rows``)
REALISM_KEYS = ("realism:", "fine detail", "intensity inside")
STRIPS = "front_page"
#: (dataset, image size) of notebook 04's run, the one notebook 05 evaluates
MAIN_RUN = ("brain-mri", 64)


@dataclass
class Model:
    """One trained model to put on the side-by-side section."""

    family: str
    label: str  # "trained here: runs/<name>" or "shipped: data/pretrained/<name>"
    path: Path
    config: dict
    evaluation: dict[str, str] | None = None  # headline rows, None = not evaluated


@dataclass
class Strips:
    """What ``draw`` made for one model: real above generated, or why not."""

    real: np.ndarray | None = None  # N×H×W×C in [-1, 1]
    generated: np.ndarray | None = None
    real_caption: str = ""
    generated_caption: str = ""
    problem: str = ""
    files: dict[str, str] = field(default_factory=dict)  # "real"/"generated" -> link under artifacts


# ----------------------------------------------------------------------------- finding models
def family_of(cfg: dict) -> str:
    """A saved model's family from its config.json (``gan.family``; old GAN runs say nothing)."""
    return runs.model_config(cfg)["family"]


def is_demo(run: runs.RunFolder) -> bool:
    """Notebook 07's own-data runs train on a user folder (``dataset`` = ``folder-<hash>``)."""
    return str(run.config.get("dataset") or "").startswith("folder")


def main_runs(artifacts: Path) -> tuple[list[runs.RunFolder], list[runs.RunFolder]]:
    """(library-data GAN runs with the main run first, own-data demo runs), else newest first.

    The main run is the one notebook 05 evaluates: the newest finished run of
    notebook 04's ``MAIN_RUN`` dataset and size (04's exercises train 32 px runs
    after it, so "newest" alone would pick an exercise).
    """
    found = runs.scan(artifacts)
    library = [r for r in found if not is_demo(r)]
    main = runs.latest_run(artifacts, *MAIN_RUN)
    if main is not None:
        library = [main] + [r for r in library if r != main]
    return library, [r for r in found if is_demo(r)]


def family_runs(root: Path) -> list[runs.RunFolder]:
    """Finished-or-not run folders under ``artifacts/<family>/``, newest first."""
    return runs.scan(root) if root.is_dir() else []


def shipped_models(pretrained: Path | None) -> list[Path]:
    """Every folder under ``data/pretrained`` with a config.json (any family)."""
    if pretrained is None or not pretrained.is_dir():
        return []
    return sorted(p for p in pretrained.iterdir() if (p / "config.json").is_file())


def find_models(artifacts: Path, pretrained: Path | None) -> list[Model]:
    """The newest model of each family in the artifacts folder, then each shipped model, in family order."""
    found: list[Model] = []
    library, _ = main_runs(artifacts)
    made = [library[:1], family_runs(artifacts / "diffusion")[:1], family_runs(artifacts / "pix2pix")[:1]]
    for run in (r for group in made for r in group):
        rel = run.path.relative_to(artifacts).as_posix()
        found.append(Model(family_of(run.config), f"trained here: {rel}", run.path, run.config,
                           evaluation_rows(run.path, artifacts)))
    for folder in shipped_models(pretrained):
        cfg = fileio.read_json_object(folder / "config.json")
        if cfg is None:
            continue
        found.append(Model(family_of(cfg), f"shipped: data/pretrained/{folder.name}", folder, cfg,
                           evaluation_rows(folder, artifacts)))
    order = list(FAMILIES)
    return sorted(found, key=lambda m: order.index(m.family) if m.family in order else len(order))


# ----------------------------------------------------------------------------- evaluation numbers
def headline(evaluation: dict) -> dict[str, str]:
    """The few numbers worth showing (``EvaluationReport.headline``), from a loaded evaluation.json."""
    if isinstance(evaluation.get("headline"), dict):
        return evaluation["headline"]
    from medgan_helpers.evaluation.report import headline_numbers

    return headline_numbers(evaluation)


def card_rows(card: Path) -> dict[str, str]:
    """The ``- **name**: value`` lines of a model card's "## Evaluation" section."""
    text = card.read_text(encoding="utf-8")
    _, _, section = text.partition("## Evaluation")
    return dict(re.findall(r"^- \*\*(.+?)\*\*: (.+)$", section, flags=re.MULTILINE))


def evaluation_rows(folder: Path, artifacts: Path) -> dict[str, str] | None:
    """A model's headline rows: its evaluation.json, a card JSON, the pretraining job's report, the card."""
    for candidate in (folder / "evaluation.json", folder / "model_card.json",
                      artifacts / "evaluations" / f"pretrained-{folder.name}" / "evaluation.json"):
        loaded = fileio.read_json_object(candidate) if candidate.is_file() else None
        if loaded is not None:
            loaded = loaded.get("evaluation", loaded) if candidate.name == "model_card.json" else loaded
            if isinstance(loaded, dict) and loaded:
                return headline(loaded)
    if (folder / "MODEL_CARD.md").is_file():
        return card_rows(folder / "MODEL_CARD.md") or None
    return None


def realism_rows(rows: dict[str, str] | None) -> dict[str, str]:
    """The realism ruler's rows (each with its real-vs-real floor); else FD with its floor; else {}."""
    if not rows:
        return {}
    realism = {k: v for k, v in rows.items() if k.startswith(REALISM_KEYS)}
    if realism:
        return realism
    fd = {k: v for k, v in rows.items() if k.startswith("FD to real")}
    return {**fd, "realism ruler": "not measured in this report (only the feature-space distance above)"} if fd else {}


# ----------------------------------------------------------------------------- drawing
def column_labels(labels: np.ndarray, num_classes: int | None) -> list[int | None]:
    """Class index of each column: ``PER_CLASS`` per class in class order, or None when unconditional."""
    if not num_classes:
        return [None] * UNCONDITIONAL_TILES
    present = set(np.asarray(labels).tolist())
    return [c for c in range(num_classes) if c in present for _ in range(PER_CLASS)]


def pick(labels: np.ndarray, columns: Sequence[int | None]) -> np.ndarray:
    """Indices of real images for ``columns``: evenly spread within each class (or over all)."""
    labels = np.asarray(labels)
    chosen: list[int] = []
    for c in dict.fromkeys(columns):
        pool = np.arange(len(labels)) if c is None else np.flatnonzero(labels == c)
        k = sum(1 for col in columns if col == c)
        chosen += [int(pool[i]) for i in np.linspace(0, len(pool) - 1, k + 2)[1:-1].round().astype(int)]
    return np.array(chosen)


def strip_png(images: np.ndarray, tile: int = TILE, gap: int = 2) -> bytes:
    """One row of tiles, each ``tile`` px square (nearest-neighbour), white gaps: PNG bytes."""
    from medgan_helpers import pictures

    images = np.asarray(images, dtype=np.float32)
    rows = np.arange(tile) * images.shape[1] // tile
    cols = np.arange(tile) * images.shape[2] // tile
    return pictures.to_png(pictures.image_strip(images[:, rows][:, :, cols], gap))


def _class_caption(class_names: Sequence[str] | None, columns: Sequence[int | None]) -> str:
    if columns and columns[0] is None:
        return f"{len(columns)} images, no classes"
    names = [class_names[c] if class_names and c < len(class_names) else f"class {c}" for c in dict.fromkeys(columns)]
    return f"{PER_CLASS} per class, left to right: " + ", ".join(names)


def draw_sampler(model: Model) -> Strips:
    """GAN or diffusion: real training images of the model's dataset, and samples (seed 0) in their classes."""
    from medgan_helpers import data

    dataset = model.config.get("dataset")
    size = model.config.get("image_size") or runs.model_config(model.config).get("image_size")
    if not dataset or not size:
        return Strips(problem="its config.json names no dataset and image size, so no real images to compare with")
    sampler = runs.load_generator(model.path)
    real_set = data.load_dataset(dataset, image_size=size, split="train", seed=0)
    columns = column_labels(real_set.labels, sampler.num_classes)
    if sampler.num_classes and list(sampler.class_names or []) != list(real_set.class_names):
        return Strips(problem=f"its classes {sampler.class_names} are not the dataset's {real_set.class_names}")
    real = real_set.subset(pick(real_set.labels, columns)).images
    generated = sampler.generate(len(columns), labels=None if columns[0] is None else list(columns), seed=0)
    caption = _class_caption(real_set.class_names, columns)
    return Strips(real, generated, f"real: {dataset}, training split, {caption}",
                  f"generated: {len(columns)} samples (seed 0), the same classes in the same order")


def draw_pix2pix(model: Model) -> Strips:
    """pix2pix: real test-split T1 slices, and what the model made from their inputs."""
    from medgan_helpers import data, pix2pix

    section = runs.model_config(model.config)
    size = section.get("image_size")
    input_size = section.get("input_size")
    task = "super-resolution" if input_size and size and input_size < size else "tissue"
    options = {"task": task} if task != "tissue" else {}
    pairs = data.load_dataset("brain-mri-pairs", size, "test", seed=0, **options)
    columns = column_labels(pairs.labels, len(pairs.class_names or []))
    chosen = pick(pairs.labels, columns)
    translated = pix2pix.load(model.path, compile=False).translate(pairs.input_images[chosen])
    caption = _class_caption(pairs.class_names, columns)
    what = "its tissue maps" if task == "tissue" else "its 4× smaller copy"
    return Strips(pairs.target_images[chosen], translated,
                  f"real: brain-mri T1 slices, test split (never trained on), {caption}",
                  f"generated: the model's output from each real slice's {what}, same order")


def draw(model: Model) -> Strips:
    """Real and generated strips for one model; a model that cannot be drawn says why."""
    drawers = {"gan": draw_sampler, "diffusion": draw_sampler, "pix2pix": draw_pix2pix}
    if model.family not in drawers:
        return Strips(problem=f"the front page cannot draw a {model.family!r} model yet")
    try:
        strips = drawers[model.family](model)
    except Exception as exc:  # a broken model must not hide the rest of the page
        return Strips(problem=f"could not draw it: {type(exc).__name__}: {exc}")
    if strips.real is not None and strips.generated is not None and len(strips.real) != len(strips.generated):
        return Strips(problem="real and generated strips came out of different lengths")
    return strips


def save_strips(strips: Strips, artifacts: Path, name: str) -> Strips:
    """Write the strips to ``artifacts/front_page/<name>-real.png`` / ``-generated.png``."""
    for role in ("real", "generated"):
        images = getattr(strips, role)
        if images is not None:
            rel = f"{STRIPS}/{name}-{role}.png"
            write_atomic(artifacts / rel, strip_png(images))
            strips.files[role] = rel
    return strips
