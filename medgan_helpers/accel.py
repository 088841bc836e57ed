"""Pick the device strategy, mixed precision and XLA for this machine — once.

``configure()`` looks at what TensorFlow sees and chooses:

| found                         | strategy                     | mixed precision  | XLA |
| ----------------------------- | ---------------------------- | ---------------- | --- |
| CPU only                      | default (no distribution)    | off              | off (measured slower on CPU) |
| 1 GPU                         | default                      | ``mixed_float16`` if compute capability >= 7 | on |
| several GPUs                  | ``MirroredStrategy``         | as above         | on  |
| a Colab / Cloud TPU           | ``TPUStrategy``              | ``mixed_bfloat16`` | (always compiled) |

It prints one readable line, returns an ``AccelSetup`` and remembers it:
calling it again returns the same object (safe in every notebook's setup cell).
Build models and optimizers inside ``setup.strategy.scope()``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import tensorflow as tf


@dataclass
class AccelSetup:
    """What ``configure()`` chose."""

    strategy: tf.distribute.Strategy
    mixed_precision: bool
    xla: bool
    device: str
    kind: str = "cpu"  #: "cpu" | "gpu" | "multi-gpu" | "tpu" | "custom"
    num_replicas: int = 1
    notes: list[str] = field(default_factory=list)

    def scope(self):
        """``with setup.scope():`` — build models and optimizers here."""
        return self.strategy.scope()

    def describe(self) -> str:
        precision = "mixed precision" if self.mixed_precision else "float32"
        xla = "XLA on" if self.xla else "XLA off"
        replicas = f", {self.num_replicas} replicas" if self.num_replicas > 1 else ""
        return f"Device: {self.device} · {type(self.strategy).__name__}{replicas} · {precision} · {xla}"

    @property
    def description(self) -> str:
        """The one-line summary ``configure()`` prints."""
        return self.describe()

    def __str__(self) -> str:
        return self.describe()


_CURRENT: AccelSetup | None = None


def current() -> AccelSetup | None:
    """The setup chosen by the last ``configure()`` call, or None if it was never called."""
    return _CURRENT


def _compute_capability(gpu) -> tuple[int, int] | None:
    try:
        details = tf.config.experimental.get_device_details(gpu)
    except Exception:  # pragma: no cover - depends on drivers
        return None
    return details.get("compute_capability")


def _gpu_name(gpu) -> str:
    try:
        return tf.config.experimental.get_device_details(gpu).get("device_name", "GPU")
    except Exception:  # pragma: no cover
        return "GPU"


def _try_tpu():
    """A TPUStrategy when a TPU is attached (Colab / Cloud), else None."""
    if not (os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME") or os.path.exists("/dev/accel0")):
        return None
    try:  # pragma: no cover - needs a TPU
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except Exception:  # pragma: no cover
        return None


def configure(
    mixed_precision: bool | str = "auto",
    xla: bool | str = "auto",
    strategy: tf.distribute.Strategy | None = None,
    verbose: bool = True,
    force: bool = False,
) -> AccelSetup:
    """Detect the hardware, choose strategy / mixed precision / XLA, print one line.

    Args:
        mixed_precision: "auto" (on for GPUs with compute capability >= 7 and TPUs),
            True or False.
        xla: "auto" (on for GPUs), True or False.
        strategy: use this ``tf.distribute`` strategy instead of detecting one
            (e.g. a ``MirroredStrategy`` over logical CPU devices in a test).
        verbose: print the one-line summary.
        force: choose again even if ``configure()`` already ran.

    Returns the ``AccelSetup``; the same object on later calls (idempotent).
    """
    global _CURRENT
    if _CURRENT is not None and not force and strategy is None:
        if verbose:
            print(_CURRENT.describe())
        return _CURRENT

    import keras

    gpus = tf.config.list_physical_devices("GPU")
    notes: list[str] = []
    tpu = None if (strategy is not None or gpus) else _try_tpu()
    if strategy is not None:
        kind = "custom"
        devices = getattr(strategy.extended, "worker_devices", ())
        device = f"{strategy.num_replicas_in_sync} device(s): {', '.join(devices)}" if devices else "custom strategy"
        auto_mp = False
        auto_xla = False
    elif tpu is not None:  # pragma: no cover - needs a TPU
        strategy, kind = tpu, "tpu"
        device = f"TPU with {tpu.num_replicas_in_sync} cores"
        auto_mp, auto_xla = True, False
    elif gpus:
        for gpu in gpus:
            with contextlib.suppress(RuntimeError):  # already initialised: fine
                tf.config.experimental.set_memory_growth(gpu, True)
        capabilities = [_compute_capability(g) for g in gpus]
        auto_mp = all(c is not None and c[0] >= 7 for c in capabilities)
        if not auto_mp:
            notes.append("GPU compute capability < 7: float16 would not be faster, staying in float32")
        auto_xla = True
        names = sorted({_gpu_name(g) for g in gpus})
        if len(gpus) > 1:
            strategy, kind = tf.distribute.MirroredStrategy(), "multi-gpu"
            device = f"{len(gpus)} GPUs ({', '.join(names)})"
        else:
            strategy, kind = tf.distribute.get_strategy(), "gpu"
            cap = capabilities[0]
            device = f"1 GPU ({names[0]}" + (f", compute {cap[0]}.{cap[1]})" if cap else ")")
    else:
        strategy, kind = tf.distribute.get_strategy(), "cpu"
        device = f"CPU ({os.cpu_count()} cores)"
        auto_mp, auto_xla = False, False

    use_mp = auto_mp if mixed_precision == "auto" else bool(mixed_precision)
    use_xla = auto_xla if xla == "auto" else bool(xla)
    policy = ("mixed_bfloat16" if kind == "tpu" else "mixed_float16") if use_mp else "float32"
    keras.mixed_precision.set_global_policy(policy)
    _CURRENT = AccelSetup(
        strategy=strategy,
        mixed_precision=use_mp,
        xla=use_xla,
        device=device,
        kind=kind,
        num_replicas=strategy.num_replicas_in_sync,
        notes=notes,
    )
    if verbose:
        print(_CURRENT.describe() + ("" if not notes else " (" + "; ".join(notes) + ")"))
    return _CURRENT


def reset() -> None:
    """Forget the chosen setup and go back to float32 (tests and experiments)."""
    global _CURRENT
    import keras

    _CURRENT = None
    keras.mixed_precision.set_global_policy("float32")
