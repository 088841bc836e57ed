"""Helpers shared by the tests: tiny learnable data and tiny GANs (real training, seconds each),
and the exercise solutions printed in the notebook sources."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from medgan_helpers import data, gan, models

LATENT = 8
SIZE = 32
ROOT = Path(__file__).resolve().parents[1]


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


@contextlib.contextmanager
def small_brain_mri(cache_dir: Path, per_class: dict[str, int]) -> Iterator[None]:
    """brain-mri (and every source built on its planes) with fewer planes per class, in a private cache."""
    from medgan_helpers.data import brain

    patch = pytest.MonkeyPatch()
    patch.setenv("MEDGAN_CACHE_DIR", str(cache_dir))
    patch.setattr(brain, "PER_CLASS", per_class)
    try:
        yield
    finally:
        patch.undo()


def assert_cache_is_used_and_healed(load, path: Path) -> None:
    """A cached build (``load()`` -> (arrays, info)): built once, then read, then rebuilt when truncated."""
    built, info = load()
    assert not info["from_cache"] and path.is_file()
    again, info = load()
    assert info["from_cache"] and all(np.array_equal(built[k], again[k]) for k in built)
    path.write_bytes(path.read_bytes()[:300])  # truncated
    healed, info = load()
    assert not info["from_cache"] and all(np.array_equal(built[k], healed[k]) for k in built)


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


def solution_blocks(source_name: str) -> list[str]:
    """The ```python blocks inside the <details> solutions of ``notebooks/src/<source_name>``.

    The exercise tests run them, so a solution printed in a notebook always passes its check.
    """
    text = (ROOT / "notebooks" / "src" / source_name).read_text()
    markdown = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines())
    blocks = []
    for details in re.findall(r"<details><summary>Solution</summary>(.*?)</details>", markdown, re.S):
        blocks += re.findall(r"```python\n(.*?)```", details, re.S)
    return blocks


def assert_checks_reexported(number: str) -> None:
    """Notebook ``number``'s exercise checks: every ``exercises.check_*`` its source calls is
    ``exercises.nb<number>.check_*``, and the package re-exports every check of that module."""
    import importlib

    from medgan_helpers import exercises

    module = importlib.import_module(f"medgan_helpers.exercises.nb{number}")
    (source,) = (ROOT / "notebooks" / "src").glob(f"{number}_*.py")
    called = set(re.findall(r"exercises\.(check_\w+)", source.read_text()))
    defined = {name for name in dir(module) if name.startswith("check_")}
    assert called, f"{source.name} calls no exercises.check_* function"
    assert called <= defined, f"{source.name} calls checks that nb{number} lacks: {sorted(called - defined)}"
    for name in sorted(defined):
        assert getattr(exercises, name, None) is getattr(module, name), f"exercises.{name} is not nb{number}.{name}"
