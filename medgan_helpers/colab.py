"""The notebooks' setup-cell logic at run time: install the kit on Google Colab, nothing elsewhere.

Every notebook starts with the same setup cell (its source is built by
``medgan_helpers.jobs.colab_cells`` and rendered by ``tools/build_notebooks.py``).
On Colab the cell clones this repository (``REPO`` below is the one place its
address lives) and then calls :func:`setup`, which installs only the runtime
dependencies Colab is missing, under a pip constraints file that pins every
installed distribution to its installed version — so it never upgrades or
downgrades what Colab ships (TensorFlow, Keras, ipywidgets, pandas, requests, …):
pip picks versions of the missing packages that fit, or fails loudly. It then
checks that the kit really installed from the checkout and imports from it, and
reports the device through ``accel.configure()``. A Colab runtime without
TensorFlow (the TPU runtimes) stops with one sentence before anything is
installed. Anywhere else nothing is installed.

``tools/colab_twin.py`` runs this setup cell and notebooks 01–06 in a twin of
Colab's runtime (its Python and pinned package versions) and fails when a
shipped package changes version.

To point the notebooks at a fork, change ``REPO`` and rebuild the notebooks
(``python tools/build_notebooks.py --no-execute``); the badges and setup cells
follow.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

#: GitHub ``owner/name`` of the kit — the single place the repository address lives.
REPO = "medgan-kit/medgan-kit"
REPO_URL = f"https://github.com/{REPO}"
BRANCH = "main"
#: Where the setup cell clones the kit on Colab.
COLAB_CHECKOUT = "/content/medgan-kit"

#: Distributions Colab ships preinstalled. The setup cell never passes them to pip, and
#: pip runs under a constraints file that pins every installed distribution, these
#: included, to its installed version.
COLAB_SHIPS = frozenset(
    {"tensorflow", "keras", "ipywidgets", "matplotlib", "numpy", "scipy", "pillow", "ipykernel"}
)

#: Floors that differ on Colab: its front end runs ipywidgets 7, and the shipped 7.7.1
#: is the one to use there (elsewhere JupyterLab 4 needs ipywidgets 8).
COLAB_FLOORS = {"ipywidgets": "7.7.1"}

# The runtime dependencies, kept in step with pyproject.toml by tests/test_packaging.py.
# Every line is ``name>=floor`` with at most a ``python_version`` marker (_parse_requirement).
RUNTIME_REQUIREMENTS = (
    "tensorflow>=2.16",
    'keras>=3.13.2; python_version >= "3.11"',
    'keras>=3.12.4; python_version < "3.11"',
    "numpy>=1.24",
    "scipy>=1.10",
    "pillow>=10.0",
    "pydicom>=2.4",
    "nibabel>=5.0",
    "nilearn>=0.10.3",
    "matplotlib>=3.7",
    "ipywidgets>=8",
)

#: The one sentence a Colab runtime without TensorFlow (its TPU runtimes) gets.
NO_TENSORFLOW = (
    "This Colab runtime has no TensorFlow (Colab's TPU runtimes ship without it), so the "
    "kit cannot run here: choose Runtime → Change runtime type → a GPU (T4) or CPU runtime, "
    "then run this cell again."
)


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip().lower()


_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)>=(?P<floor>[0-9][0-9.]*)"
    r'(?:\s*;\s*python_version\s*(?P<op><=|>=|<|>|==|!=)\s*"(?P<python>[0-9.]+)")?$'
)


def _version_tuple(version: str) -> tuple[int, ...]:
    """The release numbers of a version string: "3.13.2" -> (3, 13, 2), "2.20.0rc1" -> (2, 20, 0)."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _parse_requirement(spec: str) -> tuple[str, str, bool]:
    """``(name, floor, applies to this Python)`` of a ``RUNTIME_REQUIREMENTS`` line."""
    match = _REQUIREMENT.match(spec.strip())
    if match is None:
        raise ValueError(f"{spec!r}: runtime requirements must read 'name>=floor' "
                         "with at most a python_version marker.")
    applies = True
    if match["op"]:
        here, there = sys.version_info[:2], _version_tuple(match["python"])
        applies = {
            "<": here < there, "<=": here <= there, ">": here > there,
            ">=": here >= there, "==": here == there, "!=": here != there,
        }[match["op"]]
    return match["name"].lower(), match["floor"], applies


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _inside(path: str | Path, folder: str | Path) -> bool:
    try:
        return Path(path or ".").resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False


def _paths_outside(checkout: str | Path) -> list[str]:
    """``sys.path`` without the checkout itself (the setup cell puts it first).

    Metadata in the checkout (a ``medgan_kit.egg-info`` left by a failed or
    interrupted ``pip install -e``) is a build by-product, not an installation.
    """
    root = Path(checkout).resolve()
    return [entry for entry in sys.path if Path(entry or ".").resolve() != root]


def _pep440(version: str) -> bool:
    return re.fullmatch(r"(\d+!)?\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9.]+)?",
                        version, re.IGNORECASE) is not None


def installed_pins(checkout: str | Path = COLAB_CHECKOUT) -> str:
    """A pip constraints file pinning every installed distribution to its installed version.

    The first distribution of a name on ``sys.path`` wins, as for imports; the kit
    itself and metadata inside the checkout are left out.
    """
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=_paths_outside(checkout)):
        name, version = dist.metadata["Name"], dist.version
        if not name or not version or not _pep440(version):
            continue  # broken or non-PEP 440 metadata: pip could not read the pin
        key = _canonical(name)
        if key != "medgan-kit":
            pins.setdefault(key, version)
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def checkout_version(checkout: str | Path) -> str | None:
    """The ``[project] version`` in the checkout's pyproject.toml (None when absent)."""
    try:
        text = (Path(checkout) / "pyproject.toml").read_text()
    except OSError:
        return None
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else None


def kit_install_version(checkout: str | Path) -> str | None:
    """The version of medgan-kit that pip installed editable from ``checkout``, else None.

    Only a real installation counts: metadata in site-packages whose
    ``direct_url.json`` (PEP 610) names the checkout as an editable source.
    """
    want = Path(checkout).resolve()
    for dist in importlib.metadata.distributions(name="medgan-kit", path=_paths_outside(checkout)):
        try:
            origin = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            continue
        url = urllib.parse.urlparse(origin.get("url", ""))
        editable = origin.get("dir_info", {}).get("editable", False)
        if editable and url.scheme == "file" and Path(urllib.parse.unquote(url.path)).resolve() == want:
            return dist.version
        return None  # the first medgan-kit on the path is what imports see: not ours
    return None


class UnsupportedRuntime(RuntimeError):
    """This runtime cannot run the kit; the message says what to choose instead."""


@dataclass
class SetupPlan:
    """What :func:`setup` did (or would do, with ``dry_run=True``)."""

    in_colab: bool
    checkout: str = COLAB_CHECKOUT
    commands: list[list[str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    constraints: str = ""
    constraints_file: str = ""
    installed: dict[str, str] = field(default_factory=dict)
    kit: str = ""
    device: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = "Google Colab" if self.in_colab else "not Colab: nothing installed"
        lines = [f"medgan setup — {where}"]
        if self.in_colab:
            lines.append("  missing requirements: " + (", ".join(self.missing) or "none"))
            if self.installed:
                chosen = ", ".join(f"{name} {version}" for name, version in self.installed.items())
                lines.append(f"  installed: {chosen} (fitted to the packages Colab ships, none changed)")
            if self.kit:
                lines.append("  " + self.kit)
        if self.device:
            lines.append("  " + self.device)
        lines.extend("  note: " + note for note in self.notes)
        return "\n".join(lines)


def plan_install(checkout: str | Path = COLAB_CHECKOUT) -> SetupPlan:
    """Work out the pip commands that would make the kit usable on Colab.

    Only requirements that are *absent* are installed, under a constraints file
    that pins every installed distribution: pip picks versions of the missing
    packages that fit what Colab ships, or fails; it never replaces a shipped
    package. A requirement Colab ships is never passed to pip and no command
    carries ``--upgrade``. A runtime without TensorFlow, or with a shipped package
    older than the kit needs, stops here with one sentence (``UnsupportedRuntime``).
    """
    plan = SetupPlan(in_colab=in_colab(), checkout=str(checkout))
    if not plan.in_colab:
        return plan
    if _installed_version("tensorflow") is None:
        raise UnsupportedRuntime(NO_TENSORFLOW)
    too_old = []
    for spec in RUNTIME_REQUIREMENTS:
        name, floor, applies = _parse_requirement(spec)
        if not applies:
            continue
        version = _installed_version(name)
        floor = COLAB_FLOORS.get(name, floor)
        if version is None:
            if name not in COLAB_SHIPS:
                plan.missing.append(spec)
        elif _version_tuple(version) < _version_tuple(floor):
            too_old.append(f"{name} {version} (the kit needs {name}>={floor})")
    if too_old:
        raise UnsupportedRuntime(
            "This runtime has " + ", ".join(too_old) + ", and the setup cell never replaces "
            "installed packages: choose Runtime → Disconnect and delete runtime to get a "
            "current Colab runtime, then run this cell again."
        )
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if plan.missing:
        plan.constraints = installed_pins(checkout)
        plan.constraints_file = os.path.join(tempfile.gettempdir(), "medgan-kit-colab-constraints.txt")
        plan.commands.append([*pip, "-c", plan.constraints_file, *plan.missing])
    installed = kit_install_version(checkout)
    if installed is None or installed != checkout_version(checkout):
        # --no-deps: the kit itself, without letting pip touch anything Colab ships.
        plan.commands.append([*pip, "--no-deps", "-e", str(checkout)])
    return plan


def _run_install(plan: SetupPlan) -> None:
    if plan.constraints_file:
        Path(plan.constraints_file).write_text(plan.constraints)
    for command in plan.commands:
        if subprocess.run(command).returncode != 0:
            raise RuntimeError(
                f"`pip {' '.join(command[3:])}` failed (pip says why above). Nothing Colab "
                "ships was changed: pip ran with every installed package pinned."
            )
    importlib.invalidate_caches()
    for spec in plan.missing:
        name = _requirement_name(spec)
        plan.installed[name] = _installed_version(name) or "not found after installing"


def verify_kit(checkout: str | Path = COLAB_CHECKOUT) -> str:
    """Check that the kit is installed from ``checkout`` and imports from it; say so.

    Raises ``RuntimeError`` naming what is wrong (for example only a leftover
    ``*.egg-info`` from a failed install) and how to start over.
    """
    import medgan_helpers

    importlib.invalidate_caches()
    expected = checkout_version(checkout)
    installed = kit_install_version(checkout)
    where = Path(medgan_helpers.__file__).resolve().parent
    problems = []
    if expected is None:
        problems.append(f"{checkout}/pyproject.toml gives no version")
    if installed != expected:
        problems.append(f"pip has medgan-kit {installed or 'not installed'} from {checkout}, "
                        f"the checkout holds {expected}")
    if not _inside(where, checkout):
        problems.append(f"medgan_helpers imports from {where}")
    if medgan_helpers.__version__ != expected:
        problems.append(f"medgan_helpers.__version__ is {medgan_helpers.__version__}")
    if problems:
        raise RuntimeError(
            f"The kit is not installed from {checkout} as expected: " + "; ".join(problems)
            + f". Delete the folder (!rm -rf {checkout}) and run this cell again."
        )
    return f"kit: medgan-kit {installed}, importing from {checkout}"


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
    """Run the setup cell's work: install what Colab lacks, check the kit, report the device.

    Args:
        dry_run: only plan; run no command (used by the tests).
        configure: call ``accel.configure()`` and record the device it picked.
    """
    plan = plan_install()
    if plan.in_colab and not dry_run:
        _run_install(plan)
        plan.kit = verify_kit(plan.checkout)
    if configure:
        with _quiet_native_stderr():
            from medgan_helpers import accel

            choice = accel.configure(verbose=False)
        plan.device = choice.describe()
        plan.notes.extend(choice.notes)
        if plan.in_colab and choice.kind == "cpu":
            print(
                "No GPU found. On Colab choose Runtime → Change runtime type → "
                "T4 GPU, then Runtime → Restart session and run the notebook again. "
                "Everything also runs on CPU, just slower."
            )
    print(plan)
    return plan
