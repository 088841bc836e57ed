#!/usr/bin/env python3
"""A twin of Google Colab's runtime: the kit's setup cell, sampler and notebooks run there.

    python3 tools/colab_twin.py                   # build or reuse the twin, run every check
    python3 tools/colab_twin.py --notebooks 01,05 # only these notebooks
    python3 tools/colab_twin.py --rebuild         # build the cached image again first

Needs root on Debian (12 tested; debootstrap, chroot, mount) and the network to
Debian's archive and PyPI. Standard library only. Exits non-zero on any failure.

The twin (cached in ``.colab-twin/``, or ``$MEDGAN_TWIN_CACHE``):

- **image/** — Debian trixie with its Python 3.13, made by ``debootstrap``; the
  host's CA certificates (so pip works behind a TLS-re-signing proxy); a virtual
  environment ``/usr/local/colab`` with Colab's versions pinned exactly
  (``pip install -r tools/colab_twin_runtime.txt``, taken from Colab's published
  pip freeze); and a stand-in ``google.colab`` package, imported by every IPython
  kernel at start as on Colab. Built once (about two minutes) and reused while
  the pins and this recipe stay the same.
- **run/** — for each run a fresh copy of the image (an overlay mount, else a
  copy), with this working tree, uncommitted work included, copied to
  ``/content/medgan-kit`` (``colab.COLAB_CHECKOUT``): the setup cell finds it
  there and skips its ``git clone``.

The checks, in that runtime:

1. **setup cell** — ``colab_cells.setup_cell_source()`` runs as a notebook's first cell in a
   fresh kernel. Everything the kit needs that Colab lacks is installed by it, not
   by this script. ``pip freeze`` before and after must agree on every
   distribution that was installed before (pandas and requests included).
2. **sampler** — ``widgets.SamplerWidget`` on a small generator, on Colab's ipywidgets
   7.7.1: ``set`` and every control change the image.
3. **test tools** — pytest and nbval are installed with every installed version
   pinned; ``pip freeze`` is checked again.
4. **notebooks 01–06** — each under ``pytest --nbval-lax`` in quick mode
   (``MEDGAN_QUICK=1``), in its own kernel, with no run left by an earlier notebook.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from medgan_helpers import colab  # noqa: E402  (standard library only; the kit's one address book)
from medgan_helpers.jobs import colab_cells  # noqa: E402  (the setup cell's source)

RUNTIME = ROOT / "tools" / "colab_twin_runtime.txt"
CHECKS = "tools/colab_twin_checks.py"
SUITE = "trixie"  # Debian 13: Python 3.13, as Colab's runtime since 2026-08
PACKAGES = "python3.13,python3.13-venv,ca-certificates"
MIRROR = os.environ.get("MEDGAN_TWIN_MIRROR", "http://deb.debian.org/debian")
VENV = "/usr/local/colab"
CONTENT = "/content"
NOTEBOOKS = ("01", "02", "03", "04", "05", "06")
#: Bump when the image recipe changes: a cached image with another recipe is rebuilt.
RECIPE = "1"
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_BUNDLE = "/etc/ssl/certs/host-ca-bundle.pem"  # in the twin

STANDIN = '''"""Stand-in for Colab's ``google.colab``, installed by the kit's Colab twin.

Colab imports ``google.colab`` in every kernel before the first cell runs; the kit's
setup cell looks for it in ``sys.modules``. Nothing else of Colab is imitated.
"""

TWIN = True
'''
KERNEL_STARTUP = "import google.colab  # as Colab's kernel does before the first cell\n"


def say(message: str) -> None:
    print(f"[twin] {message}", flush=True)


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s" if seconds >= 60 else f"{seconds:.0f} s"


# -- pins and pip freeze ----------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements / freeze text (comments, URLs, -e skipped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def read_freeze(text: str) -> dict[str, str]:
    """Every distribution ``pip freeze --all`` lists: its version, or its URL for direct ones."""
    found = read_pins(text)
    for line in text.splitlines():
        editable = re.match(r"# Editable install .*\((\S+)==(\S+)\)", line)
        if editable:
            found[canonical(editable.group(1))] = editable.group(2) + " (editable)"
        elif " @ " in line and not line.startswith("#"):
            name, url = line.split(" @ ", 1)
            found[canonical(name)] = "@ " + url.strip()
    return found


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Each distribution of ``before`` that ``after`` has at another version, or lacks."""
    return [
        f"{name} {version} -> {after.get(name, 'removed')}"
        for name, version in sorted(before.items())
        if after.get(name) != version
    ]


def added(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [f"{name} {after[name]}" for name in sorted(set(after) - set(before))]


# -- mounts and the chroot ----------------------------------------------------------


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    base = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == base or point.startswith(base + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount_all(path: Path) -> None:
    for point in mounts_under(path):
        if subprocess.run(["umount", point], capture_output=True).returncode:
            subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts_under(path)
    if left:
        raise RuntimeError(f"could not unmount {', '.join(left)}")


def remove_tree(path: Path) -> None:
    """Delete a twin folder, never through a mount (a bound /dev or /proc)."""
    if not path.exists():
        return
    unmount_all(path)
    shutil.rmtree(path)


@dataclass
class Twin:
    """A root file system to run commands in, with the twin's environment."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, argv: list[str], log: Path | None = None, timeout: float = 1800,
            env: dict[str, str] | None = None, cwd: str = CONTENT) -> subprocess.CompletedProcess:
        """Run ``argv`` in the twin; output goes to ``log`` (and is returned)."""
        command = ["chroot", str(self.root), "/usr/bin/env", "-C", cwd, *argv]
        process = subprocess.Popen(
            command, env={**self.env, **(env or {})}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            output += f"\n[twin] timed out after {minutes(timeout)}\n"
            process.returncode = 124
        except BaseException:  # interrupted: leave nothing running in the twin
            os.killpg(process.pid, signal.SIGKILL)
            raise
        output = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output)  # IPython's colours
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"$ {' '.join(argv)}\n{output}")
        return subprocess.CompletedProcess(argv, process.returncode, output, "")

    def check(self, argv: list[str], what: str, **kwargs) -> str:
        result = self.run(argv, **kwargs)
        if result.returncode:
            raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{tail(result.stdout)}")
        return result.stdout

    def freeze(self) -> str:
        return self.check(["python", "-m", "pip", "freeze", "--all"], "pip freeze")

    def mount_system(self) -> None:
        for what, target, options in (
            ("proc", "proc", ["-t", "proc"]),
            ("sysfs", "sys", ["-t", "sysfs"]),
            ("/dev", "dev", ["--bind"]),
            ("tmpfs", "dev/shm", ["-t", "tmpfs"]),
        ):
            (self.root / target).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", *options, what, str(self.root / target)], check=True)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def host_bundle() -> Path:
    """The CA bundle this host's pip trusts (it includes a re-signing proxy's CA, if any)."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"),
                      os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise RuntimeError("no CA bundle found on this host (looked at PIP_CERT, REQUESTS_CA_BUNDLE, "
                       "SSL_CERT_FILE and /etc/ssl/certs/ca-certificates.crt)")


def twin_env() -> dict[str, str]:
    """A clean environment for the twin: no host pip configuration, the host's proxies and CAs."""
    env = {
        "PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore",
        "PIP_CERT": HOST_BUNDLE, "SSL_CERT_FILE": HOST_BUNDLE, "REQUESTS_CA_BUNDLE": HOST_BUNDLE,
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
                 "PIP_DEFAULT_TIMEOUT"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):  # a mirror, unless it is a host path
        urls = [u for u in os.environ.get(name, "").split() if u.startswith(("http://", "https://"))]
        if urls:
            env[name] = " ".join(urls)
    return env


def copy_host_files(root: Path) -> None:
    """DNS settings and CA certificates of this host, so the twin reaches what the host reaches."""
    for name in ("resolv.conf", "hosts"):
        if Path("/etc", name).is_file():
            (root / "etc" / name).unlink(missing_ok=True)
            shutil.copyfile(Path("/etc", name), root / "etc" / name)
    shutil.copyfile(host_bundle(), root / HOST_BUNDLE.lstrip("/"))


# -- the image ----------------------------------------------------------------------


def standin_wheel(folder: Path) -> Path:
    """A wheel of the stand-in ``google.colab`` (named like Colab's own: google-colab 1.0.0)."""
    dist = "google_colab-1.0.0.dist-info"
    files = {
        "google/colab/__init__.py": STANDIN.encode(),
        f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: google-colab\nVersion: 1.0.0\n"
                            b"Summary: Stand-in for Colab's google.colab (the kit's Colab twin)\n",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: colab_twin\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    wheel = folder / "google_colab-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def image_key() -> str:
    recipe = "\n".join([RECIPE, SUITE, PACKAGES, MIRROR, STANDIN, KERNEL_STARTUP, RUNTIME.read_text()])
    return hashlib.sha256(recipe.encode()).hexdigest()


def ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    say("installing debootstrap (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap"],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def build_image(image: Path, logs: Path) -> None:
    """Debian trixie + Python 3.13 + Colab's pinned packages + the stand-in google.colab."""
    ensure_debootstrap()
    building = image.with_name(image.name + ".building")
    remove_tree(building)
    say(f"debootstrap {SUITE} ({PACKAGES}) from {MIRROR}")
    with open(logs / "debootstrap.log", "w") as log:
        result = subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE,
                                 str(building), MIRROR], stdout=log, stderr=subprocess.STDOUT)
    if result.returncode:
        raise RuntimeError(f"debootstrap failed; see {logs / 'debootstrap.log'}")
    extra = building / "usr/local/share/ca-certificates"
    for certificate in Path("/usr/local/share/ca-certificates").rglob("*.crt"):
        shutil.copyfile(certificate, extra / certificate.name)
    copy_host_files(building)
    twin = Twin(building, twin_env())
    (building / CONTENT.lstrip("/")).mkdir(exist_ok=True)
    twin.mount_system()
    try:
        install_into(twin, logs)
    finally:
        unmount_all(building)
    (building / ".twin-key").write_text(image_key())
    building.rename(image)


def install_into(twin: Twin, logs: Path) -> None:
    building = twin.root
    twin.check(["update-ca-certificates"], "update-ca-certificates", cwd="/")
    twin.check(["/usr/bin/python3.13", "-m", "venv", VENV], "python3.13 -m venv", cwd="/")
    pins = building / "tmp" / "colab-runtime.txt"
    pins.write_text(RUNTIME.read_text())
    say(f"pip install -r {RUNTIME.relative_to(ROOT)} ({len(read_pins(RUNTIME.read_text()))} pins)")
    twin.check(["python", "-m", "pip", "install", "-q", "--no-cache-dir", "-r", "/tmp/colab-runtime.txt"],
               "installing Colab's pinned packages", log=logs / "image-pip.log", cwd="/")
    wheel = standin_wheel(building / "tmp")
    twin.check(["python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", f"/tmp/{wheel.name}"],
               "installing the stand-in google.colab", cwd="/")
    startup = building / "root/.ipython/profile_default/startup/00-google-colab.py"
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.write_text(KERNEL_STARTUP)
    freeze = read_pins(twin.freeze())
    wrong = [f"{name}=={want} (got {freeze.get(name, 'nothing')})"
             for name, want in read_pins(RUNTIME.read_text()).items() if freeze.get(name) != want]
    if wrong:
        raise RuntimeError("the image does not hold Colab's versions: " + ", ".join(wrong))
    pins.unlink()
    wheel.unlink()


# -- one run --------------------------------------------------------------------------


def working_tree_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of this checkout (uncommitted work included)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], check=True, capture_output=True).stdout
    return [p for p in listed.decode().split("\0") if p and (ROOT / p).is_file()]


def copy_checkout(target: Path, committed: bool) -> None:
    """This checkout at ``target``: its working tree, or with ``committed`` its HEAD commit."""
    target.mkdir(parents=True, exist_ok=True)
    if committed:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"],
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}  # Python >= 3.11.4
            tar.extractall(target, **safe)
        return
    for relative in working_tree_files():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target / relative)


def fresh_run(image: Path, cache: Path) -> Path:
    """A writable copy of the image: an overlay mount where the kernel allows it, else a copy."""
    run, upper, work = cache / "run", cache / "run-upper", cache / "run-work"
    for folder in (run, upper, work):
        remove_tree(folder)
        folder.mkdir()
    options = f"lowerdir={image},upperdir={upper},workdir={work}"
    if subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(run)],
                      capture_output=True).returncode:
        say("overlay mount refused: copying the image instead")
        run.rmdir()
        subprocess.run(["cp", "-a", str(image), str(run)], check=True)
    return run


def place_checkout(run: Path, committed: bool) -> list[Path]:
    """The kit at COLAB_CHECKOUT, and its notebooks in /content where Colab opens them."""
    checkout = run / colab.COLAB_CHECKOUT.lstrip("/")
    copy_checkout(checkout, committed)
    notebooks = []
    for number in NOTEBOOKS:
        for source in sorted((checkout / "notebooks").glob(f"{number}_*.ipynb")):
            notebooks.append(run / CONTENT.lstrip("/") / source.name)
            shutil.copy2(source, notebooks[-1])
    return notebooks


def stale_setup_cells(notebooks: list[Path], source: str) -> list[str]:
    """Notebooks whose setup cell differs from ``colab_cells.setup_cell_source()`` (need a rebuild)."""
    stale = []
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        setup = ["".join(c["source"]) for c in cells if "setup" in c.get("metadata", {}).get("tags", [])]
        if [s.strip() for s in setup] != [source.strip()]:
            stale.append(path.name)
    return stale


@dataclass
class Check:
    name: str
    ok: bool | None = None  # None: skipped
    detail: str = ""
    seconds: float = 0.0


def result_line(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else {}


def run_checks(twin: Twin, notebooks: list[Path], logs: Path, checkout: str) -> list[Check]:
    checks: list[Check] = []
    # 1. the setup cell, exactly as the notebooks carry it
    check = Check("setup cell")
    checks.append(check)
    start = time.perf_counter()
    before = read_freeze(twin.freeze())
    (twin.root / "tmp" / "setup_cell.py").write_text(colab_cells.setup_cell_source())
    result = twin.run(["python", f"{checkout}/{CHECKS}", "setup-cell", "/tmp/setup_cell.py"],
                      log=logs / "setup-cell.log", timeout=1800)
    after = read_freeze(twin.freeze())
    moved = changed(before, after)
    new = added(before, after)
    facts = result_line(result.stdout)
    check.seconds = time.perf_counter() - start
    missing = [name for name in ("medgan-kit", "nilearn", "pydicom") if name not in after]
    problems = []
    if result.returncode or not facts.get("ok"):
        problems.append(facts.get("error") or f"exit {result.returncode}")
    if moved:
        problems.append(f"changed {len(moved)} shipped package(s): " + "; ".join(moved))
    if missing:
        problems.append("not installed: " + ", ".join(missing))
    check.ok = not problems
    chosen = [entry for entry in new if entry.split()[0] in ("nilearn", "pydicom", "medgan-kit")]
    check.detail = ("; ".join(problems) if problems else
                    f"installed {', '.join(chosen)} (+{len(new) - len(chosen)} dependencies); "
                    f"0 of {len(before)} installed packages changed")
    (logs / "setup-cell-freeze.txt").write_text(
        "changed:\n" + "\n".join(moved or ["(none)"]) + "\n\nadded:\n" + "\n".join(new or ["(none)"]) + "\n"
    )
    if not check.ok:
        say("setup cell failed:\n" + tail(result.stdout))
        checks += [Check("sampler (ipywidgets)", None, "skipped: the setup cell failed")]
        checks += [Check(p.stem, None, "skipped: the setup cell failed") for p in notebooks]
        return checks

    # 2. the sampler on Colab's ipywidgets
    check = Check("sampler (ipywidgets)")
    checks.append(check)
    start = time.perf_counter()
    result = twin.run(["python", f"{checkout}/{CHECKS}", "sampler"], log=logs / "sampler.log",
                      timeout=900, env={"MEDGAN_QUICK": "1"})
    facts = result_line(result.stdout)
    check.seconds = time.perf_counter() - start
    check.ok = result.returncode == 0 and bool(facts.get("ok"))
    if check.ok:
        check.detail = f"ipywidgets {facts['ipywidgets']}: " + ", ".join(facts["changes"]) + " changed the view"
    else:
        failed = [name for name, ok in facts.get("changes", {}).items() if not ok]
        check.detail = ("did not change: " + ", ".join(failed)) if failed else "failed (see sampler.log)"
        say("sampler failed:\n" + tail(result.stdout))

    # 3. pytest + nbval, pinned to everything installed
    check = Check("pytest + nbval")
    checks.append(check)
    start = time.perf_counter()
    freeze = twin.freeze()
    (twin.root / "tmp" / "installed.txt").write_text(
        "".join(f"{name}=={version}\n" for name, version in read_pins(freeze).items())
    )
    result = twin.run(["python", "-m", "pip", "install", "-q", "-c", "/tmp/installed.txt", "pytest", "nbval"],
                      log=logs / "test-tools.log", timeout=900)
    moved = changed(read_freeze(freeze), read_freeze(twin.freeze()))
    check.seconds = time.perf_counter() - start
    check.ok = result.returncode == 0 and not moved
    check.detail = ("installed with every installed version pinned; 0 changed" if check.ok else
                    "; ".join(moved) or "pip failed:\n" + tail(result.stdout, 15))
    if not check.ok:
        checks += [Check(p.stem, None, "skipped: pytest/nbval could not be installed") for p in notebooks]
        return checks

    # 4. the notebooks, each in a fresh kernel with no run of an earlier notebook
    for notebook in notebooks:
        check = Check(notebook.stem)
        checks.append(check)
        remove_tree(twin.root / checkout.lstrip("/") / "artifacts")
        start = time.perf_counter()
        log = logs / f"{notebook.stem}.log"
        result = twin.run(
            ["python", "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval-lax",
             "--nbval-cell-timeout=1200", f"{CONTENT}/{notebook.name}"],
            log=log, timeout=2400, env={"MEDGAN_QUICK": "1"},
        )
        check.seconds = time.perf_counter() - start
        summary = [line for line in result.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
        check.ok = result.returncode == 0
        check.detail = (summary[-1].strip("= ") if summary else f"exit {result.returncode}")
        if not check.ok:
            check.detail += f" (log: {log})"
            say(f"{notebook.stem} failed:\n" + tail(first_failure(result.stdout)))
    return checks


def first_failure(output: str) -> str:
    """The first failing cell's report in nbval's output (the whole output if none is found)."""
    match = re.search(r"^_{3,} .*?(?=^_{3,} |^=+ short test summary|\Z)", output, re.S | re.M)
    return match.group(0) if match else output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("MEDGAN_TWIN_CACHE", ROOT / ".colab-twin")))
    parser.add_argument("--rebuild", action="store_true", help="build the cached image again")
    parser.add_argument("--notebooks", default=",".join(NOTEBOOKS),
                        help="comma-separated notebook numbers (default: %(default)s)")
    parser.add_argument("--committed", action="store_true",
                        help="run the committed HEAD instead of the working tree")
    parser.add_argument("--keep-run", action="store_true",
                        help="keep what the run changed (run-upper/, or run/ when copied) for a look")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("[twin] needs root (debootstrap, chroot and mount).", file=sys.stderr)
        return 2
    wanted = {n.strip() for n in args.notebooks.split(",") if n.strip()}
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    lock = open(cache / ".lock", "w")  # noqa: SIM115  (held until this process ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"another twin run is using {cache}: waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)
    logs = cache / "logs"
    image = cache / "image"
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = None
    try:
        logs.mkdir(parents=True, exist_ok=True)
        for old in logs.glob("*"):
            old.unlink()
        key_file = image / ".twin-key"
        how = "reused"
        if args.rebuild or not key_file.is_file() or key_file.read_text() != image_key():
            remove_tree(image)
            build_image(image, logs)
            how = "built"
        say(f"image {how} in {minutes(time.perf_counter() - started)}")
        run = fresh_run(image, cache)
        copy_host_files(run)
        notebooks = [p for p in place_checkout(run, args.committed) if p.stem[:2] in wanted]
        stale = stale_setup_cells(notebooks, colab_cells.setup_cell_source())
        twin = Twin(run, twin_env())
        twin.mount_system()
        python = twin.check(["python", "-c", "import platform; print(platform.python_version())"],
                            "python").strip()
        say(f"Python {python} (Debian {SUITE}), Colab's pins from {RUNTIME.relative_to(ROOT)}")
        checks = run_checks(twin, notebooks, logs, colab.COLAB_CHECKOUT)
    except Exception as error:  # the twin itself broke: a failure with its reason
        print(f"[twin] FAILED before the checks finished: {error}", file=sys.stderr)
        return 1
    finally:
        if run is not None:
            unmount_all(run)
            if not args.keep_run:
                for folder in ("run", "run-upper", "run-work"):
                    remove_tree(cache / folder)
    print(f"\nColab twin — Python {python}, Colab's package versions, image {how}; logs in {logs}")
    for check in checks:
        status = {True: "PASS", False: "FAIL", None: "SKIP"}[check.ok]
        print(f"  {status}  {check.name:<28} {minutes(check.seconds):>12}  {check.detail}")
    if stale:
        print(f"  note: the setup cell in {', '.join(stale)} differs from colab_cells.setup_cell_source(): "
              "rebuild the notebooks (python3 kit.py notebooks)")
    failed = sum(check.ok is False for check in checks)
    skipped = sum(check.ok is None for check in checks)
    print(f"Colab twin took {minutes(time.perf_counter() - started)}")
    print(f"twin: {len(checks) - failed - skipped} passed, {failed} failed"
          + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
