#!/usr/bin/env python3
"""The kit's two commands, for a fresh machine with only Python 3.10-3.13 and pip.

    python3 kit.py run     # set up .venv, then run every notebook (01, 02, ...) on brain-mri into artifacts/
    python3 kit.py test    # set up .venv, then lint and run every test (quick mode)
    python3 kit.py test --fast   # the daily tier: lint and the unit tests only (a few minutes)

Both create a local virtual environment in ``.venv`` on first use and reuse it
afterwards (it is reinstalled only when ``pyproject.toml`` changes). Neither needs
conda, a GPU or any network beyond the package registries. Only the standard
library is used here, so this file runs before anything is installed.

Other verbs: ``setup`` (only the venv), ``notebooks`` (rebuild and execute the
committed notebooks from notebooks/src), ``bench`` (the benchmark scripts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
EXTRAS = "notebooks,test,browser"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
#: What ``kit.py test --fast`` leaves out: real training runs (marked slow) and the browser.
FAST_MARKERS = "not slow and not browser"


def say(message: str) -> None:
    print(f"[kit] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> int:
    say("$ " + " ".join(str(c) for c in cmd))
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kwargs)


def ensure_venv() -> None:
    """Create .venv and install the kit with its extras, unless already up to date."""
    if sys.version_info < (3, 10):  # noqa: UP036 - this file runs before anything is installed
        sys.exit(f"[kit] Python 3.10 or newer is needed (3.10-3.13 are tested); "
                 f"this is {sys.version.split()[0]}.")
    stamp = VENV / ".medgan-stamp"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest() + EXTRAS
    if PY.exists() and stamp.exists() and stamp.read_text() == want:
        say(f"reusing {VENV.relative_to(ROOT)}")
        return
    if not PY.exists():
        say(f"creating {VENV.relative_to(ROOT)} (first run: a few minutes)")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    steps = [
        [PY, "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [PY, "-m", "pip", "install", "-q", "-e", f".[{EXTRAS}]"],
    ]
    for step in steps:
        if run(step) != 0:
            sys.exit("[kit] installing the kit failed; see the pip output above.")
    stamp.write_text(want)


def cmd_run(args: list[str]) -> int:
    ensure_venv()
    return run([PY, "-m", "medgan_helpers.jobs.runner", *args])


def cmd_test(args: list[str]) -> int:
    ensure_venv()
    env = dict(os.environ)
    env.setdefault("MEDGAN_QUICK", "1")  # tests always use the shrunken settings
    out = ROOT / "test-output"
    shutil.rmtree(out / "artifacts", ignore_errors=True)
    env.setdefault("MEDGAN_ARTIFACTS", str(out / "artifacts"))
    if run([BIN / "ruff", "check", "."], env=env) != 0:
        say("lint failed (ruff check .)")
        return 1
    if "--fast" in args:
        # The daily tier: unit tests only (no notebooks, no real training, no browser).
        args = [a for a in args if a != "--fast"]
        pytest = [PY, "-m", "pytest", "tests", "-m", FAST_MARKERS, "--timeout=600",
                  "-p", "no:cacheprovider", *args]
    else:
        pytest = [
            PY, "-m", "pytest", "tests", "notebooks", "--nbval-lax",
            "--nbval-cell-timeout=1200", "--timeout=1800", "-p", "no:cacheprovider", *args,
        ]
    code = run(pytest, env=env)
    if code == 5:
        say("pytest collected no tests: that is a failure, not a pass")
        return 1
    return code


def cmd_notebooks(args: list[str]) -> int:
    ensure_venv()
    return run([PY, "tools/build_notebooks.py", *args])


def cmd_bench(args: list[str]) -> int:
    ensure_venv()
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    chosen = [s for s in scripts if not args or s.stem in args]
    return max((run([PY, s]) for s in chosen), default=0)


COMMANDS = {
    "run": cmd_run,
    "test": cmd_test,
    "setup": lambda _args: ensure_venv() or 0,
    "notebooks": cmd_notebooks,
    "bench": cmd_bench,
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
