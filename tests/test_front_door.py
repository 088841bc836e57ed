"""The front door: ``import medgan_helpers as mg`` and its verbs, evaluate's options, the jobs kept apart."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import medgan_helpers as mg

PACKAGE = Path(mg.__file__).parent
ROOT = PACKAGE.parent
#: The verbs the design notes promise a notebook (docs: DESIGN "Public API").
PROMISED = {"load_dataset", "train", "load_run", "evaluate", "evaluate_run", "export_synthetic", "SamplerWidget"}


# --------------------------------------------------------------------------- the verbs
@pytest.mark.parametrize("verb", sorted(mg.VERBS))
def test_each_verb_is_the_function_of_its_module(verb):
    module, name = mg.VERBS[verb]
    home = importlib.import_module(f"medgan_helpers.{module}")
    assert getattr(mg, verb) is getattr(home, name)  # the real thing, not a wrapper
    assert f"mg.{verb}" in mg.__doc__ and verb in dir(mg) and verb in mg.__all__


def test_the_promised_verbs_are_all_there():
    assert PROMISED <= set(mg.VERBS)
    assert mg.load_run.__name__ == "load_generator" and callable(mg.train) and inspect.isclass(mg.SamplerWidget)


def test_no_module_can_shadow_a_verb():
    """Importing ``medgan_helpers.X`` sets the attribute X on the package: no module may share a verb's name."""
    clashes = [verb for verb in mg.VERBS if (PACKAGE / f"{verb}.py").exists() or (PACKAGE / verb).is_dir()]
    assert clashes == []
    import medgan_helpers.train_cli  # noqa: F401  (the command-line trainer, once called ``train``)
    from medgan_helpers import training

    assert mg.train is training.train


def test_every_library_module_is_listed_and_no_job_is():
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    unlisted, gone = (modules | packages) - {"jobs"} - set(mg._SUBMODULES), set(mg._SUBMODULES) - modules - packages
    assert not unlisted, f"add {sorted(unlisted)} to _SUBMODULES and the docstring of medgan_helpers/__init__.py"
    assert not gone, f"{sorted(gone)} no longer exist: remove them from _SUBMODULES in medgan_helpers/__init__.py"
    assert not {"runner", "pretrain", "jobs"} & set(mg._SUBMODULES)


def test_importing_the_package_imports_no_tensorflow():
    code = ("import sys, medgan_helpers as mg\n"
            "dir(mg); mg.VERBS\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Sampler'"):
        mg.Sampler  # noqa: B018  (the protocol is sampling.Sampler, the widget mg.SamplerWidget)


# --------------------------------------------------------------------------- the jobs
def _kit_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_library_never_imports_the_repository_jobs():
    users = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
             if "jobs" not in p.relative_to(PACKAGE).parts
             and any(name.startswith("medgan_helpers.jobs") for name in _kit_imports(p))]
    assert users == []


def test_the_job_check_sees_an_import(tmp_path):
    (tmp_path / "x.py").write_text("def f():\n    from medgan_helpers.jobs import runner\n")
    assert "medgan_helpers.jobs.runner" in _kit_imports(tmp_path / "x.py")


# --------------------------------------------------------------------------- evaluate's options
def test_evaluate_refuses_an_unknown_option_by_name():
    images = np.zeros((40, 16, 16, 1), np.float32)
    with pytest.raises(TypeError, match=r"evaluate\(\) got unknown option 'kid_subset' \(did you mean 'kid_subsets'\?\)"):
        mg.evaluate(images, images, images, kid_subset=5)
    with pytest.raises(TypeError, match="options are the fields of evaluation.EvalOptions: utility, realism"):
        mg.evaluate_run("no-such-run", colour=True)
    with pytest.raises(TypeError, match=r"options= must be an evaluation.EvalOptions.*\*\*settings"):
        mg.evaluate(images, images, images, None, {"kid_subsets": 5})


def test_options_are_validated_and_frozen():
    options = mg.EvalOptions.quick(utility_seeds=[3, 4])
    assert options.utility_seeds == (3, 4) and options.kid_subsets == 10
    assert mg.EvalOptions.quick(kid_subsets=4).kid_subsets == 4  # an override beats the quick size
    assert mg.EvalOptions.quick(False) == mg.EvalOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.kid_subsets = 3
    for bad, match in [({"kid_subsets": 0}, "kid_subsets must be a whole number"),
                       ({"n_samples": 2.5}, "n_samples must be a whole number"),
                       ({"utility": "yes"}, "utility must be True, False or 'auto'"),
                       ({"utility_settings": ("tstr", "tsts")}, "utility_settings must be one or more"),
                       ({"realism_seeds": 3}, "realism_seeds must be a sequence"),
                       ({"max_real": 0}, "max_real must be None or a whole number")]:
        with pytest.raises((ValueError, TypeError), match=match):
            mg.EvalOptions(**bad)
    with pytest.raises(TypeError, match="unknown option 'epochs'"):
        options.replace(epochs=3)


def test_settings_is_the_notebooks_eval_dictionary():
    from medgan_helpers import evaluation

    quick = evaluation.settings(quick=True)
    assert quick == {name: getattr(mg.EvalOptions.quick(), name) for name in quick}
    assert evaluation.settings()["feature_epochs"] == mg.EvalOptions().feature_epochs == 12
    assert mg.EvalOptions(**quick) == mg.EvalOptions.quick()  # **EVAL is a valid set of options


def test_the_evaluation_command_line_refuses_a_bad_size_by_name(tmp_path, capsys):
    from medgan_helpers import evaluation

    assert evaluation.main([str(tmp_path), "--n-samples", "0"]) == 2
    assert "n_samples must be a whole number ≥ 1, got 0" in capsys.readouterr().err


def _evaluate_keywords(source: Path) -> set[str]:
    keywords = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in {"evaluation.evaluate", "evaluation.evaluate_run"}:
            keywords.update(k.arg for k in node.keywords if k.arg)
    return keywords


def test_the_notebooks_evaluate_calls_use_only_known_names():
    """Notebooks 05 and 07 call ``evaluation.evaluate(..., utility_epochs=EVAL[...], ...)`` unchanged."""
    from medgan_helpers import evaluation

    own = set(inspect.signature(evaluation.evaluate).parameters) | set(inspect.signature(evaluation.evaluate_run).parameters)
    fields = {f.name for f in dataclasses.fields(evaluation.EvalOptions)}
    used = {path.name: _evaluate_keywords(path) for path in sorted((ROOT / "notebooks" / "src").glob("*.py"))}
    assert used["05_evaluation.py"] >= {"utility_epochs", "feature_epochs", "kid_subsets", "diversity_pairs"}
    assert used["07_your_own_data.py"] >= {"verbose", "utility_epochs"}
    unknown = {name: sorted(words - own - fields) for name, words in used.items() if words - own - fields}
    assert unknown == {}


# --------------------------------------------------------------------------- one round through the door
@pytest.mark.slow  # trains a tiny GAN for one epoch and evaluates it: 94 s on the 2 cores shared by six jobs
def test_a_notebook_round_trip_uses_only_the_verbs(tmp_path, artifacts, cache):
    brain = mg.load_dataset("brain-mri", image_size=32, split="train")
    real = brain.subset(np.arange(0, len(brain), max(1, len(brain) // 96)))
    result = mg.train(real, run_dir=tmp_path / "run", verbose=0, display=False, epochs=1, batch_size=32,
                      g_base_filters=8, d_base_filters=8, max_filters=32, max_images=None)
    sampler = mg.load_run(result.run)
    assert sampler.image_size == 32 and sampler.num_classes == len(real.class_names)
    np.testing.assert_allclose(sampler.generate(4, seed=3), sampler.generate(4, seed=3))
    options = mg.EvalOptions.quick(utility=False, realism=False, feature_epochs=1, n_samples=40, kid_subsets=3,
                                   diversity_pairs=20, verbose=False)
    report = mg.evaluate_run(result.run, options, real_train=real, real_test=real)
    assert report.results["meta"]["n_fake"] == 40 and (result.run.path / "evaluation.json").is_file()
    export = mg.export_synthetic(sampler, 3, out_root=tmp_path / "synthetic")
    assert len(list(export.rglob("*.png"))) == 3 * len(real.class_names)
