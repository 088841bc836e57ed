"""The setup cell's logic (``colab``, run with a stand-in ``google.colab`` module) and its source (``jobs.colab_cells``)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

import medgan_helpers
from medgan_helpers import colab, config
from medgan_helpers.jobs import colab_cells


@pytest.fixture
def fake_colab(monkeypatch):
    # The real "google" namespace package (protobuf lives there, TensorFlow needs it)
    # stays; only the google.colab module is a stand-in.
    import google.protobuf  # noqa: F401

    module = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google.colab", module)
    monkeypatch.setattr(sys.modules["google"], "colab", module, raising=False)
    return module


def _flat(plan):
    return [arg for command in plan.commands for arg in command]


def test_outside_colab_nothing_is_installed():
    assert "google.colab" not in sys.modules
    plan = colab.setup(dry_run=True, configure=False)
    assert plan.in_colab is False
    assert plan.commands == []


def test_on_colab_only_missing_requirements_are_installed(fake_colab, monkeypatch):
    # Pretend the runtime looks like Colab's: TensorFlow & co. present, the medical
    # imaging libraries and the kit itself absent.
    absent = {"pydicom", "nibabel", "nilearn", "medgan-kit"}
    real_version = colab._installed_version
    monkeypatch.setattr(
        colab, "_installed_version", lambda name: None if name in absent else real_version(name)
    )
    plan = colab.setup(dry_run=True, configure=False)
    assert plan.in_colab is True
    args = _flat(plan)
    names = {colab._requirement_name(a) for a in args if not a.startswith("-")}
    assert {"pydicom", "nibabel", "nilearn"} <= names
    # nothing Colab ships is passed to pip, and nothing is upgraded
    assert not names & colab.COLAB_SHIPS
    assert "--upgrade" not in args and "-U" not in args
    # the kit itself is installed from the checkout without dependencies
    kit = next(c for c in plan.commands if "-e" in c)
    assert "--no-deps" in kit and kit[-1] == colab.COLAB_CHECKOUT


def test_on_colab_even_a_missing_shipped_package_is_left_alone(fake_colab, monkeypatch):
    monkeypatch.setattr(colab, "_installed_version", lambda name: "2.20.0" if name == "tensorflow" else None)
    names = {colab._requirement_name(a) for a in _flat(colab.plan_install()) if a[0] != "-"}
    assert not names & colab.COLAB_SHIPS


def test_setup_cell_clones_the_one_repository_constant():
    source = colab_cells.setup_cell_source()
    assert f"{colab.REPO_URL}.git" in source
    assert "colab.setup()" in source
    compile(source, "<setup-cell>", "exec")  # valid Python


def test_setup_cell_runs_outside_colab(capsys):
    exec(compile(colab_cells.setup_cell_source().replace("colab.setup()", "colab.setup(configure=False)"),
                 "<setup-cell>", "exec"), {})
    assert "nothing installed" in capsys.readouterr().out


def test_badge_points_at_the_repository():
    url = colab_cells.colab_badge_url("01_data_preparation")
    assert url == (
        f"https://colab.research.google.com/github/{colab.REPO}/blob/main/notebooks/"
        "01_data_preparation.ipynb"
    )


def test_setup_reports_the_device_and_on_colab_without_gpu_says_how_to_switch(
    fake_colab, monkeypatch, capsys
):
    monkeypatch.setattr(colab, "_installed_version", lambda name: "99.0")  # nothing missing
    plan = colab.setup(dry_run=True)
    out = capsys.readouterr().out
    assert plan.missing == [] and "CPU" in plan.device
    assert [c[-1] for c in plan.commands] == [colab.COLAB_CHECKOUT]  # only the kit itself
    assert "Change runtime type" in out and plan.device in out


# -- the constraints file: nothing Colab ships is ever replaced ---------------------


def _colab_like(monkeypatch, absent=("pydicom", "nilearn"), versions=None):
    versions = versions or {}
    real_version = colab._installed_version

    def version(name):
        if name in absent:
            return None
        return versions.get(name) or real_version(name)

    monkeypatch.setattr(colab, "_installed_version", version)


def test_missing_packages_are_installed_under_pins_of_everything_installed(fake_colab, monkeypatch):
    _colab_like(monkeypatch)
    plan = colab.plan_install()
    install = next(c for c in plan.commands if "-e" not in c)
    assert install[install.index("-c") + 1] == plan.constraints_file
    assert [colab._requirement_name(a) for a in install[install.index("-c") + 2 :]] == [
        "pydicom", "nilearn"
    ]
    pins = dict(line.split("==") for line in plan.constraints.splitlines())
    # every installed distribution is pinned at its installed version ...
    for name in ("numpy", "pandas", "requests", "keras", "tensorflow", "ipywidgets"):
        assert pins[name] == importlib.metadata.version(name), name
    assert len(pins) >= 50
    # ... except the kit itself, which is (re)installed from the checkout
    assert "medgan-kit" not in pins


def test_setup_writes_the_constraints_before_pip_runs(fake_colab, monkeypatch, tmp_path):
    _colab_like(monkeypatch)
    monkeypatch.setattr(colab.tempfile, "gettempdir", lambda: str(tmp_path))
    seen = []

    def pip(command, **_kwargs):  # observe what pip would be given, then fail like pip
        seen.append((command, (tmp_path / "medgan-kit-colab-constraints.txt").read_text()))
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(colab.subprocess, "run", pip)
    with pytest.raises(RuntimeError, match="Nothing Colab ships was changed"):
        colab.setup(configure=False)
    command, constraints = seen[0]
    assert "-c" in command and "numpy==" in constraints
    assert len(seen) == 1  # a failed install stops: the kit is not installed on top of it


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    """Write a minimal, valid pure-Python wheel (stdlib only)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)


def _pip_would_install(folder: Path, constraints: str, requirement: str):
    (folder / "constraints.txt").write_text(constraints)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links",
         str(folder), "--quiet", "--report", "-", "-c", str(folder / "constraints.txt"), requirement],
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode:
        return None, proc.stderr
    return {i["metadata"]["name"]: i["metadata"]["version"] for i in json.loads(proc.stdout)["install"]}, ""


@pytest.mark.timeout(300)
def test_pip_under_the_pins_picks_an_older_release_that_fits_instead_of_upgrading(tmp_path):
    """What happened with nilearn on Colab: its newest release wants a newer pandas.

    Real pip, offline, with two local releases of a stand-in package. Without the
    pins pip would upgrade pandas; with them it takes the older release that fits
    the installed pandas, or refuses outright, and never replaces pandas.
    """
    pandas = importlib.metadata.version("pandas")
    major = int(pandas.split(".")[0])
    _wheel(tmp_path, "neurostandin", "2.0", [f"pandas>={major + 1}"])
    _wheel(tmp_path, "neurostandin", "1.0", [f"pandas>={major}"])
    pins = colab.installed_pins(config.REPO_ROOT)
    assert f"pandas=={pandas}\n" in pins
    chosen, _ = _pip_would_install(tmp_path, pins, "neurostandin")
    assert chosen == {"neurostandin": "1.0"}  # pandas is not in the install list
    chosen, why = _pip_would_install(tmp_path, pins, "neurostandin>=2")
    assert chosen is None and "conflicting dependencies" in why  # fails loudly, upgrades nothing


# -- the kit really installed: leftover metadata never counts ------------------------


def _stale_checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "medgan-kit"
    (checkout / "medgan_kit.egg-info").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\nname = "medgan-kit"\nversion = "0.1.0"\n')
    (checkout / "medgan_kit.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\nName: medgan-kit\nVersion: 0.1.0\n"
    )
    return checkout


def test_leftover_egg_info_from_a_failed_install_never_counts_as_installed(
    fake_colab, monkeypatch, tmp_path
):
    checkout = _stale_checkout(tmp_path)
    monkeypatch.syspath_prepend(str(checkout))  # as the setup cell does: sys.path.insert(0, ...)
    # the trap: importlib.metadata believes the egg-info in the checkout
    found = importlib.metadata.distribution("medgan-kit")
    assert found.version == "0.1.0" and Path(found.locate_file("")) == checkout
    # the kit does not: it installs again, and its check after installing refuses
    assert colab.kit_install_version(checkout) is None
    _colab_like(monkeypatch)
    assert colab.plan_install(checkout).commands[-1][-3:] == ["--no-deps", "-e", str(checkout)]
    with pytest.raises(RuntimeError, match="not installed from .*Delete the folder"):
        colab.verify_kit(checkout)


def test_the_kit_installed_from_its_checkout_passes_the_check():
    # kit.py installs this checkout editable into .venv, as the setup cell does on Colab
    root = config.REPO_ROOT
    assert colab.kit_install_version(root) == colab.checkout_version(root) == medgan_helpers.__version__
    assert colab.verify_kit(root) == f"kit: medgan-kit {medgan_helpers.__version__}, importing from {root}"


def test_a_kit_imported_from_elsewhere_fails_the_check(tmp_path):
    with pytest.raises(RuntimeError, match="medgan_helpers imports from"):
        colab.verify_kit(_stale_checkout(tmp_path))


# -- runtimes the kit cannot use say so in one sentence -------------------------------


def test_colab_without_tensorflow_stops_with_one_sentence_before_installing(fake_colab, monkeypatch):
    _colab_like(monkeypatch, absent=("tensorflow", "pydicom", "nilearn"))
    monkeypatch.setattr(colab.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    with pytest.raises(colab.UnsupportedRuntime) as stopped:
        colab.setup(configure=False)
    message = str(stopped.value)
    assert message == colab.NO_TENSORFLOW
    assert ". " not in message and message.endswith(".")  # one sentence
    assert "GPU" in message and "CPU" in message and "Change runtime type" in message


def test_outside_colab_a_missing_tensorflow_is_not_the_setup_cells_business(monkeypatch):
    monkeypatch.setattr(colab, "_installed_version", lambda name: None)
    assert colab.setup(dry_run=True, configure=False).commands == []


def test_a_shipped_keras_below_the_safe_floor_stops_instead_of_being_replaced(fake_colab, monkeypatch):
    _colab_like(monkeypatch, versions={"keras": "3.10.0"})
    monkeypatch.setattr(colab.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    with pytest.raises(colab.UnsupportedRuntime, match=r"keras 3\.10\.0 \(the kit needs keras>=3\.1[23]"):
        colab.setup(configure=False)


def test_colabs_ipywidgets_7_is_accepted_there_and_never_installed(fake_colab, monkeypatch):
    _colab_like(monkeypatch, versions={"ipywidgets": "7.7.1"})
    plan = colab.plan_install()
    assert "ipywidgets" not in {colab._requirement_name(s) for s in plan.missing}
    _colab_like(monkeypatch, versions={"ipywidgets": "7.6.5"})
    with pytest.raises(colab.UnsupportedRuntime, match=r"ipywidgets 7\.6\.5"):
        colab.plan_install()


def test_every_runtime_requirement_parses_and_one_keras_floor_applies():
    parsed = [colab._parse_requirement(spec) for spec in colab.RUNTIME_REQUIREMENTS]
    keras = [floor for name, floor, applies in parsed if name == "keras" and applies]
    assert keras == ["3.13.2" if sys.version_info >= (3, 11) else "3.12.4"]
    assert colab._version_tuple("3.13.2") > colab._version_tuple("3.12.4") > colab._version_tuple("3.11")
    with pytest.raises(ValueError, match="name>=floor"):
        colab._parse_requirement("keras~=3.0")
