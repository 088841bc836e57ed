"""The notebooks' setup-cell logic: install the kit on Google Colab, nothing elsewhere.

Every notebook starts with the same setup cell, generated from
:func:`setup_cell_source` by ``tools/build_notebooks.py``. On Colab the cell
clones this repository (``REPO`` below is the one place its address lives) and
then calls :func:`setup`, which installs only the runtime dependencies Colab is
missing — it never upgrades what Colab already ships (TensorFlow, Keras,
ipywidgets, matplotlib, …) — and reports the device through
``accel.configure()``. Anywhere else nothing is installed.

To point the notebooks at a fork, change ``REPO`` and rebuild the notebooks
(``python tools/build_notebooks.py --no-execute``); the badges and setup cells
follow.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: GitHub ``owner/name`` of the kit — the single place the repository address lives.
REPO = "medgan-kit/medgan-kit"
REPO_URL = f"https://github.com/{REPO}"
BRANCH = "main"
#: Where the setup cell clones the kit on Colab.
COLAB_CHECKOUT = "/content/medgan-kit"

#: Distributions Colab ships preinstalled; the kit must never upgrade them there.
COLAB_SHIPS = frozenset(
    {"tensorflow", "keras", "ipywidgets", "matplotlib", "numpy", "scipy", "pillow", "ipykernel"}
)

# The runtime dependencies, kept in step with pyproject.toml by tests/test_packaging.py.
RUNTIME_REQUIREMENTS = (
    "tensorflow>=2.16",
    "keras>=3.0",
    "numpy>=1.24",
    "scipy>=1.10",
    "pillow>=10.0",
    "pydicom>=2.4",
    "nibabel>=5.0",
    "nilearn>=0.10.3",
    "matplotlib>=3.7",
    "ipywidgets>=7.7",
)


def colab_badge_url(notebook_name: str) -> str:
    """The "Open in Colab" link for ``notebooks/<notebook_name>.ipynb``."""
    return (
        f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/notebooks/"
        f"{notebook_name}.ipynb"
    )


def colab_badge_markdown(notebook_name: str) -> str:
    """Markdown for the badge that opens a notebook in Colab."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_badge_url(notebook_name)})"
    )


def setup_cell_source() -> str:
    """The source of every notebook's setup cell (rendered into the notebooks)."""
    return (
        "# Setup: on Google Colab this fetches the kit and installs only what Colab lacks\n"
        "# (it never upgrades TensorFlow, Keras, ipywidgets or matplotlib). Elsewhere it\n"
        "# installs nothing: it only reports the device the kit will use.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import os\n"
        "    import subprocess\n"
        "\n"
        f'    if not os.path.isdir("{COLAB_CHECKOUT}"):\n'
        f'        subprocess.run(["git", "clone", "-q", "--depth", "1", "{REPO_URL}.git", '
        f'"{COLAB_CHECKOUT}"], check=True)\n'
        f'    sys.path.insert(0, "{COLAB_CHECKOUT}")\n'
        "\n"
        "from medgan_helpers import colab\n"
        "\n"
        "plan = colab.setup()\n"
    )


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip().lower()


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class SetupPlan:
    """What :func:`setup` did (or would do, with ``dry_run=True``)."""

    in_colab: bool
    commands: list[list[str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    device: str = ""

    def __str__(self) -> str:
        where = "Google Colab" if self.in_colab else "not Colab: nothing installed"
        lines = [f"medgan setup — {where}"]
        if self.in_colab:
            lines.append("  missing requirements: " + (", ".join(self.missing) or "none"))
        if self.device:
            lines.append("  " + self.device)
        return "\n".join(lines)


def plan_install(checkout: str | Path = COLAB_CHECKOUT) -> SetupPlan:
    """Work out the pip commands that would make the kit usable on Colab.

    Only requirements that are *absent* are installed; a requirement Colab ships
    is never passed to pip, and no command carries ``--upgrade``.
    """
    plan = SetupPlan(in_colab=in_colab())
    if not plan.in_colab:
        return plan
    for spec in RUNTIME_REQUIREMENTS:
        name = _requirement_name(spec)
        if _installed_version(name) is None and name not in COLAB_SHIPS:
            plan.missing.append(spec)
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if plan.missing:
        plan.commands.append([*pip, *plan.missing])
    if _installed_version("medgan-kit") is None:
        # --no-deps: the kit itself, without letting pip touch anything Colab ships.
        plan.commands.append([*pip, "--no-deps", "-e", str(checkout)])
    return plan


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hold back TensorFlow's C++ start-up log lines (CUDA probing, oneDNN notes).

    They are written to file descriptor 2 before TensorFlow reads any log-level
    setting, and the notebook would show them as a wall of red text. They are
    kept in a temporary file and replayed only if something fails.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded consoles)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def setup(dry_run: bool = False, configure: bool = True) -> SetupPlan:
    """Run the setup cell's work: install what Colab lacks, then report the device.

    Args:
        dry_run: only plan; run no command (used by the tests).
        configure: call ``accel.configure()`` and record the device it picked.
    """
    plan = plan_install()
    if not dry_run:
        for command in plan.commands:
            subprocess.run(command, check=True)
    if configure:
        with _quiet_native_stderr():
            from medgan_helpers import accel

            choice = accel.configure(verbose=False)
        plan.device = choice.describe()
        if plan.in_colab and choice.kind == "cpu":
            print(
                "No GPU found. On Colab choose Runtime → Change runtime type → "
                "T4 GPU, then Runtime → Restart session and run the notebook again. "
                "Everything also runs on CPU, just slower."
            )
    print(plan)
    return plan
