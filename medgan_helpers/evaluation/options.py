"""How much an evaluation measures and how hard it tries: one frozen options object.

``evaluate`` and ``evaluate_run`` take their data as arguments and everything else
— sample sizes, classifier epochs and seeds, which groups run — as one
:class:`EvalOptions`. The defaults are the full values; :meth:`EvalOptions.quick`
gives the small ones the tests and quick mode use. Single fields can still be passed
as keywords (``evaluate(..., kid_subsets=5)``): they are laid over the options by
name, and a name that is not a field is refused with the list of fields.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The sample sizes and epochs that quick mode shrinks (the rest keeps its default).
_QUICK = {"kid_subsets": 10, "diversity_pairs": 100, "utility_epochs": 3, "feature_epochs": 3,
          "n_samples": 200, "realism_epochs": 4, "realism_images": 200}
#: The main job's lighter sizes (``config.preset() == "lab"``): half the samples, shorter classifiers.
_LAB = {"kid_subsets": 10, "diversity_pairs": 250, "utility_epochs": 6, "feature_epochs": 8,
        "n_samples": 500, "realism_epochs": 5, "realism_images": 500}
#: The fields :func:`settings` returns: the notebooks' ``EVAL`` dictionary.
SIZE_FIELDS = tuple(_QUICK)
_PRESET_SIZES = {"full": {}, "lab": _LAB, "quick": _QUICK}


@dataclass(frozen=True)
class EvalOptions:
    """Everything ``evaluate`` / ``evaluate_run`` can be told besides the images themselves.

    Groups switched on: ``utility`` (``"auto"`` runs TSTR/TRTR when every label is
    there, ``True`` insists, ``False`` skips), ``realism`` (two-sample CNN, spectrum,
    intensity), ``references`` (the noise-floor and test-vs-train rows; they do not
    depend on the generator, so a loop over generators can compute them once).

    Sizes: ``n_samples`` (images ``evaluate_run`` generates), ``kid_subsets``,
    ``diversity_pairs`` (MS-SSIM pairs), ``max_real`` (subsample each real split;
    None keeps all), ``k`` (neighbourhood of precision/recall/density/coverage),
    ``realism_images`` (per set), ``realism_image_size`` (downsample for the
    two-sample CNN; None: full size).

    Classifiers: ``feature_extractor_kind`` (``"classifier"`` or ``"inception"``,
    the latter only with local weights), ``feature_epochs``, ``utility_seeds`` /
    ``utility_epochs`` / ``utility_settings`` (any of ``"tstr"``, ``"trtr"``,
    ``"mixed"``), ``realism_seeds`` / ``realism_epochs``.

    ``seed`` fixes every random choice; ``verbose`` prints progress.
    """

    utility: bool | str = "auto"
    realism: bool = True
    references: bool = True
    n_samples: int = 1000
    kid_subsets: int = 20
    diversity_pairs: int = 500
    max_real: int | None = None
    k: int = 5
    feature_extractor_kind: str = "classifier"
    feature_epochs: int = 12
    utility_seeds: tuple[int, ...] = (0, 1, 2)
    utility_epochs: int = 10
    utility_settings: tuple[str, ...] = ("tstr", "trtr", "mixed")
    realism_seeds: tuple[int, ...] = (0, 1, 2)
    realism_epochs: int = 5
    realism_images: int = 1000
    realism_image_size: int | None = None
    seed: int = 0
    verbose: bool = True

    def __post_init__(self) -> None:
        # Lists from a notebook become tuples, so the frozen options stay hashable and unshared.
        for name in ("utility_seeds", "utility_settings", "realism_seeds"):
            value = getattr(self, name)
            if isinstance(value, (str, int)) or not hasattr(value, "__iter__"):
                raise TypeError(f"EvalOptions.{name} must be a sequence, e.g. {name}=(0, 1), got {value!r}.")
            object.__setattr__(self, name, tuple(value))
        positive = ("n_samples", "kid_subsets", "diversity_pairs", "k", "feature_epochs", "utility_epochs",
                    "realism_epochs", "realism_images")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"EvalOptions.{name} must be a whole number ≥ 1, got {value!r}.")
        for name in ("max_real", "realism_image_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"EvalOptions.{name} must be None or a whole number ≥ 1, got {value!r}.")
        if self.utility not in (True, False, "auto"):
            raise ValueError(f"EvalOptions.utility must be True, False or 'auto', got {self.utility!r}.")
        if self.feature_extractor_kind not in ("classifier", "inception"):
            raise ValueError("EvalOptions.feature_extractor_kind must be 'classifier' or 'inception', "
                             f"got {self.feature_extractor_kind!r}.")
        unknown = set(self.utility_settings) - {"tstr", "trtr", "mixed"}
        if unknown or not self.utility_settings:
            raise ValueError("EvalOptions.utility_settings must be one or more of 'tstr', 'trtr', 'mixed', "
                             f"got {self.utility_settings!r}.")

    @classmethod
    def quick(cls, enabled: bool = True, **overrides: Any) -> EvalOptions:
        """The small sample sizes and epochs of quick mode (``enabled=False``: the full ones).

        ``EvalOptions.quick(QUICK)``, with a notebook's ``QUICK`` parameter, follows ``MEDGAN_QUICK``.
        """
        return cls().replace(**{**(_QUICK if enabled else {}), **overrides})

    def replace(self, **overrides: Any) -> EvalOptions:
        """A copy with the named fields changed; an unknown name raises ``TypeError`` listing the fields."""
        check_names(overrides, "EvalOptions.replace()")
        return dataclasses.replace(self, **overrides)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dictionary (JSON-ready apart from tuples)."""
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(EvalOptions))


def check_names(overrides: Mapping[str, Any], where: str) -> None:
    """Refuse keyword options that are not :class:`EvalOptions` fields, naming the closest one."""
    unknown = [name for name in overrides if name not in FIELDS]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, FIELDS, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(
        f"{where} got unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}. "
        f"The options are the fields of evaluation.EvalOptions: {', '.join(FIELDS)}."
    )


def resolve(options: EvalOptions | None, overrides: Mapping[str, Any], where: str) -> EvalOptions:
    """``options`` (default: full :class:`EvalOptions`) with the keyword ``overrides`` laid over it."""
    if options is None:
        options = EvalOptions()
    elif not isinstance(options, EvalOptions):
        raise TypeError(
            f"{where}: options= must be an evaluation.EvalOptions (e.g. EvalOptions.quick()), got "
            f"{type(options).__name__}. A dictionary of settings goes in as keywords: **settings."
        )
    check_names(overrides, where)
    return dataclasses.replace(options, **overrides) if overrides else options


def settings(quick: bool = False, preset: str | None = None) -> dict[str, int]:
    """Sample sizes and epochs of :meth:`EvalOptions.quick` (or the full ones) as a dictionary.

    ``preset`` (``config.preset()``: ``"full"``, ``"lab"`` or ``"quick"``) wins over
    ``quick`` when given; ``"lab"`` is the main job's lighter evaluation (500 samples,
    shorter classifiers). The notebooks keep them as ``EVAL`` and pass single values on
    (``EVAL["feature_epochs"]``); ``evaluate(..., **EVAL)`` works too.
    """
    if preset is None:
        preset = "quick" if quick else "full"
    if preset not in _PRESET_SIZES:
        raise ValueError(f"unknown preset {preset!r}; use one of {sorted(_PRESET_SIZES)}.")
    options = EvalOptions().replace(**_PRESET_SIZES[preset])
    return {name: getattr(options, name) for name in SIZE_FIELDS}
