"""Pick the device strategy, mixed precision and XLA for this machine — once.

``configure()`` looks at what TensorFlow sees and chooses:

| found                         | strategy                     | mixed precision  | XLA |
| ----------------------------- | ---------------------------- | ---------------- | --- |
| CPU only                      | default (no distribution)    | off              | off (measured slower on CPU) |
| 1 GPU                         | default                      | ``mixed_float16`` if compute capability >= 7 | on |
| several GPUs                  | ``MirroredStrategy``         | as above         | off (see below) |
| a Cloud TPU VM                | ``TPUStrategy``              | ``mixed_bfloat16`` | (always compiled) |

XLA is off whenever there is more than one replica: ``MirroredStrategy`` with
``mixed_float16`` and XLA crashes in ``merge_call`` (the EMA update uses it).

TPUs are found through ``TPUClusterResolver(tpu="local")`` on a machine that shows
signs of one (``TPU_*`` variables, ``/dev/accel*`` or ``/dev/vfio`` devices, libtpu).
The retired Colab TPU-node runtime (``COLAB_TPU_ADDR``) is not supported; Colab's
current TPU runtimes ship no TensorFlow, and the setup cell says so. When a TPU
cannot be used, ``configure()`` says what failed and what it chose instead —
even with ``verbose=False`` — and never falls back silently.

It prints one readable line, returns an ``AccelSetup`` and remembers it:
calling it again returns the same object (safe in every notebook's setup cell).
Build models and optimizers inside ``setup.strategy.scope()``.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
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

    @property
    def policy(self) -> str:
        """The Keras dtype policy models are built with under this setup."""
        if not self.mixed_precision:
            return "float32"
        return "mixed_bfloat16" if self.kind == "tpu" else "mixed_float16"

    @contextlib.contextmanager
    def building(self):
        """``with setup.building():`` — this setup's strategy scope *and* precision policy, for
        building models; Keras' global policy is as before afterwards (no hidden session state)."""
        import keras

        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.policy)
        try:
            with self.strategy.scope():
                yield
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def as_dict(self) -> dict:
        """What this setup is, JSON-ready (what ``training.train`` records in a run's config.json)."""
        return {"device": self.device, "kind": self.kind, "strategy": type(self.strategy).__name__,
                "replicas": self.num_replicas, "policy": self.policy, "xla": self.xla, "notes": list(self.notes)}

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


def _probe_gpus() -> list[tuple[str, tuple[int, int] | None]]:
    """``(name, compute capability)`` of each GPU TensorFlow sees (memory growth turned on)."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):  # already initialised: fine
            tf.config.experimental.set_memory_growth(gpu, True)
    return [(_gpu_name(gpu), _compute_capability(gpu)) for gpu in gpus]


def _tpu_hints() -> list[str]:
    """Signs that this machine has a TPU attached (a Cloud TPU VM); empty on other machines."""
    hints = [f"${name}" for name in ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID")
             if os.environ.get(name)]
    devices = sorted(glob.glob("/dev/accel[0-9]*")) + sorted(glob.glob("/dev/vfio/[0-9]*"))
    if devices:
        hints.append(", ".join(devices[:4]) + (" …" if len(devices) > 4 else ""))
    if importlib.util.find_spec("libtpu") is not None:
        hints.append("libtpu installed")
    return hints


def _connect_tpu() -> tf.distribute.Strategy:
    """A ``TPUStrategy`` over the TPU attached to this VM (raises when there is none)."""
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _find_tpu() -> tuple[tf.distribute.Strategy | None, str | None]:
    """``(TPUStrategy, None)``, or ``(None, why not)`` when a TPU shows but fails, or (None, None)."""
    hints = _tpu_hints()
    if not hints:
        return None, None
    try:
        return _connect_tpu(), None
    except Exception as error:  # the reason goes into the note: never a silent fallback
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        return None, (f"a TPU seemed attached ({'; '.join(hints)}) but TensorFlow could not use it: "
                      f"{type(error).__name__}: {reason}")


def decide(
    kind: str,
    replicas: int,
    capabilities: tuple = (),
    mixed_precision: bool | str = "auto",
    xla: bool | str = "auto",
) -> tuple[bool, bool, list[str]]:
    """Mixed precision and XLA for what was found: ``(mixed precision, XLA, notes)``.

    ``kind`` is "cpu", "gpu", "multi-gpu", "tpu" or "custom"; ``capabilities`` holds
    the GPUs' compute capabilities (None where unknown).
    """
    notes: list[str] = []
    auto_mp = auto_xla = False
    if kind in ("gpu", "multi-gpu"):
        auto_mp = bool(capabilities) and all(c is not None and c[0] >= 7 for c in capabilities)
        if not auto_mp and mixed_precision == "auto":
            notes.append("GPU compute capability < 7: float16 would not be faster, staying in float32")
        auto_xla = True
    elif kind == "tpu":
        auto_mp = True
    use_mp = auto_mp if mixed_precision == "auto" else bool(mixed_precision)
    use_xla = auto_xla if xla == "auto" else bool(xla)
    if use_xla and replicas > 1:
        use_xla = False
        notes.append(f"XLA off with {replicas} replicas (MirroredStrategy + mixed precision + XLA "
                     "crashes in merge_call)")
    return use_mp, use_xla, notes


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

    gpus = [] if strategy is not None else _probe_gpus()
    tpu, tpu_failure = (None, None) if (strategy is not None or gpus) else _find_tpu()
    capabilities = tuple(capability for _name, capability in gpus)
    if strategy is not None:
        kind = "custom"
        devices = getattr(strategy.extended, "worker_devices", ())
        device = f"{strategy.num_replicas_in_sync} device(s): {', '.join(devices)}" if devices else "custom strategy"
    elif tpu is not None:  # pragma: no cover - needs a TPU
        strategy, kind = tpu, "tpu"
        device = f"TPU with {tpu.num_replicas_in_sync} cores"
    elif gpus:
        names = sorted({name for name, _capability in gpus})
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

    replicas = strategy.num_replicas_in_sync
    # a custom strategy decides nothing by itself: "auto" stays off, forced values are kept
    use_mp, use_xla, notes = decide(
        "cpu" if kind == "custom" else kind, replicas, capabilities, mixed_precision, xla
    )
    if tpu_failure:
        notes.insert(0, f"{tpu_failure}; using {device} instead")
    _CURRENT = AccelSetup(
        strategy=strategy,
        mixed_precision=use_mp,
        xla=use_xla,
        device=device,
        kind=kind,
        num_replicas=replicas,
        notes=notes,
    )
    keras.mixed_precision.set_global_policy(_CURRENT.policy)  # configure() is the one call that sets it
    if verbose:
        print(_CURRENT.describe() + ("" if not notes else " (" + "; ".join(notes) + ")"))
    elif tpu_failure:  # never fall back silently
        print("Accelerator: " + notes[0])
    return _CURRENT


def reset() -> None:
    """Forget the chosen setup and go back to float32 (tests and experiments)."""
    global _CURRENT
    import keras

    _CURRENT = None
    keras.mixed_precision.set_global_policy("float32")
