"""medgan_helpers — the code the MedGAN teaching-kit notebooks lean on.

Modules, each with one job:

- ``config``      paths (cache, artifacts, pretrained), quick mode, seeding
- ``data``        medical image sources -> ``ImageSet`` -> ``tf.data``
- ``models``      the generator G and the discriminator D (Keras 3 functional)
- ``training``    the ``GAN`` model with its ``train_step``, callbacks, saving runs
- ``accel``       picks the device strategy, mixed precision and XLA
- ``evaluation``  fidelity, diversity, memorisation and utility metrics
- ``widgets``     the ipywidgets sampler
- ``exercises``   check functions for the notebook exercises
- ``colab``       the notebooks' setup cell logic (installs on Colab only)

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
    "models",
    "training",
    "accel",
    "evaluation",
    "widgets",
    "exercises",
    "colab",
    "runner",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
