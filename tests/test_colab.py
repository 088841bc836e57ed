"""The setup cell's logic, run with a stand-in ``google.colab`` module."""

from __future__ import annotations

import sys
import types

import pytest

from medgan_helpers import colab


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
    monkeypatch.setattr(colab, "_installed_version", lambda name: None)
    names = {colab._requirement_name(a) for a in _flat(colab.plan_install()) if a[0] != "-"}
    assert not names & colab.COLAB_SHIPS


def test_setup_cell_clones_the_one_repository_constant():
    source = colab.setup_cell_source()
    assert f"{colab.REPO_URL}.git" in source
    assert "colab.setup()" in source
    compile(source, "<setup-cell>", "exec")  # valid Python


def test_setup_cell_runs_outside_colab(capsys):
    exec(compile(colab.setup_cell_source().replace("colab.setup()", "colab.setup(configure=False)"),
                 "<setup-cell>", "exec"), {})
    assert "nothing installed" in capsys.readouterr().out


def test_badge_points_at_the_repository():
    url = colab.colab_badge_url("01_data_preparation")
    assert url == (
        f"https://colab.research.google.com/github/{colab.REPO}/blob/main/notebooks/"
        "01_data_preparation.ipynb"
    )


def test_setup_reports_the_device_and_on_colab_without_gpu_says_how_to_switch(
    fake_colab, monkeypatch, capsys
):
    monkeypatch.setattr(colab, "_installed_version", lambda name: "1.0")  # nothing missing
    plan = colab.setup(dry_run=True)
    out = capsys.readouterr().out
    assert plan.commands == [] and "CPU" in plan.device
    assert "Change runtime type" in out and plan.device in out
