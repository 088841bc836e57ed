"""The Colab twin's own logic (``tools/colab_twin.py``), without building the twin.

The twin itself (a Debian trixie chroot with Colab's pins) runs in CI from
``.ci/run``; these tests check the parts that decide whether it passes: reading
``pip freeze``, spotting a changed shipped package, the stand-in ``google.colab``
wheel, and never deleting through a mount.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("colab_twin", ROOT / "tools" / "colab_twin.py")
twin = importlib.util.module_from_spec(_spec)
sys.modules["colab_twin"] = twin  # dataclasses look their module up there
_spec.loader.exec_module(twin)

FREEZE = """\
absl-py==1.4.0
google-colab @ file:///tmp/google_colab-1.0.0-py3-none-any.whl
# Editable install with no version control (medgan-kit==0.1.0)
-e /content/medgan-kit
Pandas==2.2.3
requests==2.32.4
typing_extensions==4.15.0
"""


def test_pip_freeze_is_read_with_direct_and_editable_installs():
    assert twin.read_freeze(FREEZE) == {
        "absl-py": "1.4.0",
        "google-colab": "@ file:///tmp/google_colab-1.0.0-py3-none-any.whl",
        "medgan-kit": "0.1.0 (editable)",
        "pandas": "2.2.3",
        "requests": "2.32.4",
        "typing-extensions": "4.15.0",
    }


def test_an_upgrade_a_downgrade_or_a_removal_of_a_shipped_package_is_a_change():
    before = twin.read_freeze(FREEZE)
    after = dict(before, pandas="3.1.1", requests="2.31.0", nilearn="0.13.1")
    del after["absl-py"]
    assert twin.changed(before, after) == [
        "absl-py 1.4.0 -> removed",
        "pandas 2.2.3 -> 3.1.1",
        "requests 2.32.4 -> 2.31.0",
    ]
    assert twin.added(before, after) == ["nilearn 0.13.1"]
    assert twin.changed(before, dict(before, nilearn="0.13.1")) == []  # additions are fine


def test_the_pins_are_colabs_published_versions():
    pins = twin.read_pins(twin.RUNTIME.read_text())
    assert pins["keras"] == "3.13.2" and pins["tensorflow"] == "2.20.0" and pins["ipywidgets"] == "7.7.1"
    assert "pydicom" not in pins and "nilearn" not in pins  # Colab does not ship them
    shared = ROOT.parent / "shared" / "colab-runtime-2026-08.txt"
    if shared.is_file():  # the source the project was given, where this checkout has it
        assert twin.read_pins(shared.read_text()) == pins


@pytest.mark.timeout(120)
def test_the_stand_in_google_colab_installs_beside_protobuf(tmp_path):
    wheel = twin.standin_wheel(tmp_path)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)], check=True)
    # google is a namespace package: protobuf's google.protobuf must still import
    code = "import google.protobuf, google.colab; print(google.colab.TWIN)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(target)})
    assert proc.stdout.strip() == "True", proc.stderr
    assert (target / "google_colab-1.0.0.dist-info" / "METADATA").is_file()


def test_twin_folders_are_deleted_only_after_their_mounts_are_gone(tmp_path):
    folder = tmp_path / "run"
    mount_point = folder / "dev" / "shm"
    mount_point.mkdir(parents=True)
    assert twin.mounts_under(folder) == []
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount_point)]).returncode:
        twin.remove_tree(folder)
        assert not folder.exists()
        pytest.skip("mounting needs root: only the unmounted case was checked")
    try:
        (mount_point / "inside-the-mount").write_text("x")
        assert twin.mounts_under(folder) == [str(mount_point.resolve())]
        twin.remove_tree(folder)
        assert not folder.exists() and twin.mounts_under(tmp_path) == []
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_ci_runs_the_twin_and_the_readme_says_how():
    assert "tools/colab_twin.py" in (ROOT / ".ci" / "run").read_text()
    assert "python3 tools/colab_twin.py" in (ROOT / "README.md").read_text()
