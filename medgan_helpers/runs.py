"""The run folder: one owner for everything a training run leaves on disk.

A run lives in ``<artifacts>/runs/<dataset>-<size>px-<UTC time>-<4 hex>/``::

    config.json                what it was: dataset, knobs, model build settings, status (schema 2)
    generator_ema.weights.h5   the generator we sample from (EMA weights)
    gan.weights.h5             every weight, optimizers included (to keep training)
    history.json / history.csv per-epoch losses and health numbers
    health.json                the training-health records
    samples/epoch_XXX.png      the sample grid after each epoch
    backup/                    Keras' BackupAndRestore checkpoint while the run is live
    run.lock                   held by the live process (pid, host, heartbeat: see runlock)

:class:`RunFolder` owns that layout. ``RunFolder.write_config`` is the only
function that writes ``config.json``; every JSON, PNG and model file is written
atomically (temporary file + ``os.replace``), JSON never holds a bare NaN, and
a live run holds a lock so that a second ``train()`` starts a run of its own
instead of joining it. Models are saved as weights plus the settings that
built them, and loaded by rebuilding them in code (``models.build_*``): that
loads on every Keras version the kit supports, unlike a ``.keras`` file, whose
layer configs change between Keras releases.

The shipped pretrained generator (``data/pretrained/<dataset>-<size>/``) is a
run folder of kind ``"pretrained"``: config.json + generator_ema.weights.h5.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medgan_helpers import config, runlock
from medgan_helpers.fileio import json_ready, save_atomically, slug, write_json

SCHEMA = 2
CONFIG = "config.json"
EMA_WEIGHTS = "generator_ema.weights.h5"
GAN_WEIGHTS = "gan.weights.h5"
LOCK = "run.lock"


class DamagedRunError(ValueError):
    """A run folder whose config.json is missing, unreadable or of an unknown schema."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def runs_dir(artifacts_dir: str | Path | None = None) -> Path:
    """``<artifacts>/runs`` (``artifacts_dir`` may be an artifacts folder or its runs/ folder)."""
    if artifacts_dir is None:
        return config.artifacts_dir() / "runs"
    path = Path(artifacts_dir)
    return path / "runs" if (path / "runs").is_dir() else path


class RunFolder:
    """The folder of one training run (or of a shipped pretrained generator)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({self.path.name!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __eq__(self, other: object) -> bool:
        other_path = other.path if isinstance(other, RunFolder) else other
        return isinstance(other_path, (str, Path)) and Path(other_path).resolve() == self.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    # ---- making one
    @classmethod
    def new(cls, dataset: str, image_size: int, root: str | Path | None = None) -> RunFolder:
        """A fresh, unique ``<root>/<dataset>-<size>px-<UTC time>-<4 hex>/`` (created, empty).

        ``dataset`` is a dataset *name* (``ImageSet.name``: opaque for your own
        folders), never a ``folder:PATH`` — a path in a folder name would persist it.
        """
        if str(dataset).startswith("folder:"):
            raise ValueError(
                "a run is named after its dataset, and 'folder:…' holds a path (which can hold "
                "patient names): pass the loaded ImageSet's .name (an opaque id) instead.")
        root = runs_dir(root)
        root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        while True:  # the random suffix keeps two runs started in the same second apart
            path = root / f"{slug(dataset)}-{image_size}px-{stamp}-{secrets.token_hex(2)}"
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue

    # ---- config.json: the one writer
    @property
    def config(self) -> dict[str, Any]:
        """The parsed config.json; ``DamagedRunError`` when it is missing or unreadable."""
        path = self.path / CONFIG
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DamagedRunError(f"{self.path.name}: no {CONFIG} (not a run folder, or damaged).") from None
        except (OSError, ValueError) as err:
            raise DamagedRunError(f"{self.path.name}: {CONFIG} is unreadable ({err}).") from None
        if not isinstance(found, dict) or found.get("schema") != SCHEMA:
            raise DamagedRunError(
                f"{self.path.name}: {CONFIG} has schema {found.get('schema') if isinstance(found, dict) else '?'}, "
                f"this kit reads schema {SCHEMA}. Retrain, or load it with the kit version that made it."
            )
        return found

    def write_config(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into config.json (creating it), atomically; returns the new config."""
        try:
            current = self.config
        except DamagedRunError:
            current = {}
        merged = {**current, **fields, "schema": SCHEMA}
        merged.setdefault("created", _now())
        write_json(self.path / CONFIG, merged)
        return merged

    def write_json(self, name: str, value: Any) -> Path:
        """Write ``<run>/<name>`` as standard JSON, atomically."""
        return write_json(self.path / name, value)

    # ---- state
    @property
    def status(self) -> str | None:
        try:
            return self.config.get("status")
        except DamagedRunError:
            return None

    @property
    def finished(self) -> bool:
        return self.status == "finished" and (self.path / EMA_WEIGHTS).is_file()

    @property
    def backup_dir(self) -> Path:
        return self.path / "backup"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    # ---- the lock held by a live run (medgan_helpers.runlock: atomic, with a heartbeat)
    def lock(self) -> None:
        """Take this run's lock; ``RuntimeError`` if another live process holds it."""
        if not self.try_lock():
            holder = self.lock_holder() or {}
            raise RuntimeError(
                f"run {self.path.name} is being trained by process {holder.get('pid')} on "
                f"{holder.get('host')}; start a new run instead (train(..., resume=False))."
            )

    def try_lock(self) -> bool:
        """Take this run's lock if it is free or stale; True when this process holds it now."""
        return runlock.acquire(self.path / LOCK)

    def unlock(self) -> None:
        runlock.release(self.path / LOCK)

    def lock_holder(self) -> dict | None:
        """Who holds the lock (pid, host, heartbeat), or None when it is free or stale."""
        return runlock.holder(self.path / LOCK)

    # ---- models
    def save_models(self, gan, model_settings: dict[str, dict] | None) -> None:
        """Save the EMA generator and every weight (optimizers included), atomically.

        ``model_settings`` are the build settings that rebuild the networks
        (``models.rebuild``); without them (hand-built models) the networks are
        also saved as ``.keras`` files and loaded from them.
        """
        _save_weights(gan._sampling_model(), self.path / EMA_WEIGHTS)
        if getattr(gan, "g_optimizer", None) is not None:
            _save_weights(gan, self.path / GAN_WEIGHTS)
        if not model_settings:
            _save_keras(gan._sampling_model(), self.path / "generator_ema.keras")
            _save_keras(gan.generator, self.path / "generator.keras")
            _save_keras(gan.discriminator, self.path / "discriminator.keras")


def _save_weights(model, path: Path) -> None:
    save_atomically(model.save_weights, path)


def _save_keras(model, path: Path) -> None:
    save_atomically(model.save, path)


# --------------------------------------------------------------------------- finding runs


def scan(root: str | Path | None = None) -> list[RunFolder]:
    """Every run folder under ``root`` (default ``<artifacts>/runs``) with a readable config, newest first.

    Odd but valid configs are tolerated (``"created"`` as a number, or missing: the
    folder's time is used). A damaged run (config.json unreadable, not an object, of
    another schema) is skipped with a one-line note on stderr.
    """
    root = runs_dir(root)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if not path.is_dir() or not (path / CONFIG).exists():
            continue
        run = RunFolder(path)
        try:
            created = _created_seconds(run.config.get("created"), path / CONFIG)
        except DamagedRunError as err:
            print(f"skipping a damaged run: {err}", file=sys.stderr)
            continue
        found.append((created, path.name, run))
    return [run for *_, run in sorted(found, key=lambda item: item[:2], reverse=True)]


def _created_seconds(value: Any, config_file: Path) -> float:
    """``created`` as epoch seconds, for sorting: ISO text, ``YYYYMMDD``, epoch seconds, else the file's time."""
    try:
        if isinstance(value, str):
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
            return stamp.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            if 1900_01_01 <= value <= 9999_12_31 and float(value).is_integer():
                return datetime.strptime(str(int(value)), "%Y%m%d").replace(tzinfo=timezone.utc).timestamp()
            return float(value)
    except (ValueError, OverflowError, OSError):
        pass  # odd, not damaged: fall back to when the config was written
    try:
        return config_file.stat().st_mtime
    except OSError:
        return 0.0


def _config_or_none(run: RunFolder) -> dict[str, Any] | None:
    """The run's config, or None if it was damaged after :func:`scan` listed it."""
    try:
        return run.config
    except DamagedRunError:
        return None


def latest_run(
    artifacts_dir: str | Path | None = None, dataset: str | None = None, image_size: int | None = None
) -> RunFolder | None:
    """The newest finished run (optionally of one dataset and size), or None."""
    for run in scan(artifacts_dir):
        cfg = _config_or_none(run)
        if (
            cfg is not None
            and run.finished
            and (dataset is None or cfg.get("dataset") == dataset)
            and (image_size is None or cfg.get("image_size") == image_size)
        ):
            return run
    return None


def find_resumable(dataset: str, image_size: int, knobs: dict, root: str | Path | None = None) -> RunFolder | None:
    """The newest interrupted run of this dataset, size and knobs that nobody is training now
    (in ``root``, default ``<artifacts>/runs``).

    The run comes back **locked by this process** (``RunFolder.try_lock``): two
    processes looking at once never pick the same run. The caller trains it and
    calls ``unlock()`` (``RunFolder.lock()`` on it again is a no-op).
    """
    wanted = json_ready(knobs)
    for run in scan(root):
        cfg = _config_or_none(run)
        if (
            cfg is not None
            and cfg.get("status") == "running"
            and cfg.get("dataset") == dataset
            and cfg.get("image_size") == image_size
            and cfg.get("knobs") == wanted
            and run.backup_dir.is_dir()
            and run.try_lock()
        ):
            return run
    return None


# --------------------------------------------------------------------------- saving and loading models

#: model family (config.json's ``gan.family``) -> "module:class" with ``get_config`` / ``from_config``
FAMILIES: dict[str, str] = {"gan": "medgan_helpers.gan:GAN", "pix2pix": "medgan_helpers.pix2pix:Pix2Pix",
                            "diffusion": "medgan_helpers.diffusion:Diffusion"}
_ROLES = ("generator", "discriminator")


def _open(path: str | Path) -> RunFolder:
    run = RunFolder(path)
    if not run.path.is_dir():
        raise FileNotFoundError(
            f"run directory {run.path} does not exist: pass a folder made by training.train "
            "(runs.latest_run() finds the newest) or data/pretrained/<name>."
        )
    return run


def model_config(saved: dict[str, Any]) -> dict[str, Any]:
    """The model's settings in a parsed config.json, as one dict for its family's ``from_config``.

    The one reader of every layout this kit has written: ``gan`` (the family's
    ``get_config()``; before typed configs, a shorter list of the GAN's own
    settings), the training ``knobs`` beside it (older runs), the image size and
    channels at the top, and the networks' build settings under ``models``.
    """
    section = {"image_size": saved.get("image_size"), "channels": saved.get("channels"),
               **(saved.get("knobs") or {}), **(saved.get("gan") or {})}
    section.setdefault("family", "gan")
    for role, settings in (saved.get("models") or {}).items():
        section[role] = settings
    return section


def _family(section: dict[str, Any]):
    import importlib

    family = section["family"]
    if family not in FAMILIES:
        raise DamagedRunError(f"model family {family!r} is unknown to this kit (known: {', '.join(FAMILIES)}).")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def load_model(path: str | Path, compile: bool = True, family: str | None = None):
    """A saved run back as the model that made it (``GAN``, ``Pix2Pix``), drawing exactly as before.

    ``compile=True`` also restores the optimizers and every weight, so training can
    go on; else only the sampling (EMA) generator's weights are loaded. ``family``:
    refuse a run of another family (with a ``ValueError`` saying what it is).
    """
    import keras

    from medgan_helpers import losses

    run = _open(path)
    saved = run.config
    section = model_config(saved)
    if family is not None and section["family"] != family:
        raise ValueError(f"{run.path.name} is a {section['family']} run, not a {family} run "
                         f"(load it with runs.load_model).")
    if not section.get("generator") and (run.path / "generator.keras").is_file():  # hand-built networks
        for role in _ROLES:
            section[role] = keras.models.load_model(run.path / f"{role}.keras", safe_mode=True, compile=False)
    if not section.get("generator"):
        raise FileNotFoundError(f"{run.path.name}: no model settings and no .keras files: not a full run.")
    model = _family(section).from_config(section)
    if not compile:
        model._sampling_model().load_weights(run.path / EMA_WEIGHTS)
        return model
    optimizers = {role: keras.optimizers.deserialize(found)
                  for role, found in (saved.get("optimizers") or {}).items()}
    # a loss given as functions was saved by their names, which no loss table knows: the recipe's loss
    loss = section.get("loss") if section.get("loss") in losses.LOSSES else type(model.config)().loss
    model.compile(optimizers.get("g"), optimizers.get("d") if model.discriminator is not None else None, loss=loss)
    if (run.path / GAN_WEIGHTS).is_file():
        model.load_weights(run.path / GAN_WEIGHTS)
    return model


def load_gan(path: str | Path, compile: bool = True):
    """A saved GAN run back as a ``gan.GAN`` that draws the same images and can keep training."""
    return load_model(path, compile=compile, family="gan")


def load_generator(path: str | Path):
    """The EMA generator of a run or of a pretrained folder, as a ``sampling.GeneratorModel``
    (a diffusion run: a ``diffusion.DiffusionSampler``, the same sampler protocol)."""
    from medgan_helpers import models, recipe, sampling

    run = _open(path)
    saved = run.config
    section = model_config(saved)
    info = {"run": run.path.name, "kind": saved.get("kind", "run"), "dataset": saved.get("dataset")}
    if section["family"] == "diffusion":  # its sampler draws by DDIM (steps, guidance): diffusion.DiffusionSampler
        return load_model(run.path, compile=False, family="diffusion").as_sampler(
            info={**info, "family": "diffusion", **(saved.get("info") or {})})
    if section.get("generator") and (run.path / EMA_WEIGHTS).is_file():
        generator = models.rebuild(section["generator"], "generator")
        generator.load_weights(run.path / EMA_WEIGHTS)
    elif (run.path / "generator_ema.keras").is_file():
        import keras

        generator = keras.models.load_model(run.path / "generator_ema.keras", safe_mode=True, compile=False)
    else:
        raise FileNotFoundError(
            f"{run.path.name} holds no trained generator ({EMA_WEIGHTS} with its build settings, "
            "or generator_ema.keras): the run did not finish. Retrain, or pick another run."
        )
    cfg = recipe.GANConfig.from_dict(section)
    info = {**info, "family": "gan", **(saved.get("info") or {})}
    return sampling.GeneratorModel(
        generator, latent_dim=cfg.latent_dim, num_classes=cfg.num_classes,
        class_names=cfg.class_names or None, info={**info, "path": str(run.path)},
    )


def save_model(model, run: RunFolder | str | Path, *, history: dict | None = None, **facts: Any) -> RunFolder:
    """Save a trained model (``GAN``, ``Pix2Pix``) into ``run`` and mark it finished.

    config.json gets the model's ``get_config()`` (section ``gan``) with its
    networks' build settings (section ``models``) and optimizers; ``facts``:
    anything else worth keeping (steps, seconds, device, notes, kind). A GAN whose
    networks were built by hand (no build settings) is saved as ``.keras`` files too.
    """
    import keras

    run = run if isinstance(run, RunFolder) else RunFolder(run)
    run.path.mkdir(parents=True, exist_ok=True)
    own = model.get_config()
    nets = {role: own.pop(role, None) for role in _ROLES}
    if nets["generator"] is None and own["family"] != "gan":
        raise ValueError(f"a {own['family']} model is saved as weights plus the build settings of its "
                         "networks: build them with the kit's builders (models.BUILDERS).")
    rebuildable = all(settings for role, settings in nets.items() if getattr(model, role) is not None)
    run.save_models(model, nets if rebuildable else None)
    fields: dict[str, Any] = {**facts, "gan": own, "status": "finished", "finished": _now()}
    if rebuildable:
        fields["models"] = nets
    if getattr(model, "g_optimizer", None) is not None:
        fields["optimizers"] = {role: keras.optimizers.serialize(getattr(opt, "inner_optimizer", opt))
                                for role, opt in (("g", model.g_optimizer), ("d", model.d_optimizer))
                                if opt is not None}
    run.write_config(**fields)
    if history is not None:
        history = getattr(history, "history", history)
        run.write_json("history.json", {k: [float(v) for v in vals] for k, vals in history.items()})
    return run


def save_gan(gan, run: RunFolder | str | Path, *, history: dict | None = None, **facts: Any) -> RunFolder:
    """Save a trained GAN into ``run`` and mark it finished (what ``train`` and notebook 04 call)."""
    return save_model(gan, run, history=history, **facts)
