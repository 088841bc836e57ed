"""The package's shape: one home per stage, no import cycle, no hidden global state."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import medgan_helpers

PACKAGE = Path(medgan_helpers.__file__).parent
MODULES = {
    ".".join(("medgan_helpers", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): path
    for path in PACKAGE.rglob("*.py")
}


def _imports(name: str, path: Path) -> set[str]:
    """Every kit module ``name`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("medgan_helpers"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative imports
            base = name.rsplit(".", node.level)[0] if path.name != "__init__.py" else name
            found.add(f"{base}.{node.module}" if node.module else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("medgan_helpers"))
    graph = set()
    for target in found:  # importing a.b.c runs a/__init__ and a/b/__init__ too
        parts = target.split(".")
        graph.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return {m for m in graph if m in MODULES and m != name and not name.startswith(m + ".")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_anywhere_in_the_package():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
    assert graph["medgan_helpers.training"] >= {"medgan_helpers.gan", "medgan_helpers.runs", "medgan_helpers.data"}


def test_the_cycle_check_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    # the old layout: data imported _folder inside a function, and _folder imported data
    old = {"medgan_helpers.data": {"medgan_helpers._folder"}, "medgan_helpers._folder": {"medgan_helpers.data"}}
    assert find_cycle(old) is not None


def test_no_module_is_over_about_500_lines():
    long = {p.relative_to(PACKAGE).as_posix(): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 520}
    assert not long, long


def test_the_library_does_not_read_quick_mode_itself():
    """MEDGAN_QUICK is read by the notebooks' parameter cells and by tests, not by library defaults."""
    allowed = {"config.py", "runner.py", "colab.py"}  # the switch itself, and repository jobs
    readers = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
               if p.name not in allowed and ("is_quick(" in p.read_text() or "quick_or(" in p.read_text())]
    assert readers == []


def test_importing_modules_changes_no_global_setting():
    code = (
        "import warnings, keras\n"
        "before = (list(warnings.filters), keras.mixed_precision.global_policy().name)\n"
        "from medgan_helpers import training, gan, runs, callbacks, evaluation, widgets, sampling\n"
        "after = (list(warnings.filters), keras.mixed_precision.global_policy().name)\n"
        "print('SAME' if before == after else f'CHANGED {before} {after}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert "SAME" in out.stdout, out.stdout + out.stderr[-2000:]


def test_train_returns_a_result_instead_of_decorating_the_model():
    source = (PACKAGE / "training.py").read_text()
    for attribute in ("run_dir", "sample_grid", "health", "nan_guard"):
        assert f"gan.{attribute} =" not in source and f"model.{attribute} =" not in source


# --------------------------------------------------------------------------- explicit session state

#: What a child process prints about the process-wide state before and after some code runs:
#: every setting one import could change for the whole session. ``os.umask`` is watched too,
#: since reading the umask means setting it (a change that a before/after look cannot see).
_STATE_PROBE = r'''
import importlib, logging, os, pkgutil, random, signal, sys, warnings
import numpy as np, keras, tensorflow  # third-party imports are not the kit's doing

umask_calls = []
_real_umask = os.umask
os.umask = lambda mask: umask_calls.append(mask) or _real_umask(mask)

def umask_now():
    with open("/proc/self/status") as fh:
        return next((line.split()[1] for line in fh if line.startswith("Umask:")), None)

def state():
    return {
        "umask": umask_now(),
        "keras dtype policy": keras.mixed_precision.global_policy().name,
        "keras floatx": keras.backend.floatx(),
        "warnings filters": list(warnings.filters),
        "environment": dict(os.environ),
        "working directory": os.getcwd(),
        "numpy global random state": repr(np.random.get_state()),
        "python random state": random.getstate(),
        "logging levels": {n: logging.getLogger(n).level for n in ("", "tensorflow", "absl", "medgan_helpers")},
        "signal handlers": {int(s): signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
        "hooks": (sys.excepthook, sys.displayhook),
    }

def changed(run):
    del umask_calls[:]
    before = state()
    run()
    after = state()
    found = sorted(k for k in before if before[k] != after[k])
    return found + (["umask (set, even if set back)"] if umask_calls else [])

def import_every_module():
    import medgan_helpers
    for info in pkgutil.walk_packages(medgan_helpers.__path__, "medgan_helpers."):
        if not info.name.endswith("__main__"):  # running a module's command line is not importing it
            importlib.import_module(info.name)

def change_on_purpose():  # proves the probe sees what it looks for
    os.umask(os.umask(0o077))
    keras.mixed_precision.set_global_policy("mixed_float16")

print("IMPORTS", changed(import_every_module))
print("PURPOSE", changed(change_on_purpose))
'''


def test_importing_every_module_changes_no_process_state():
    if not Path("/proc/self/status").is_file():
        import pytest

        pytest.skip("reads the umask from /proc/self/status (Linux)")
    out = subprocess.run([sys.executable, "-c", _STATE_PROBE], capture_output=True, text=True, timeout=600)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines()
             if line.startswith(("IMPORTS ", "PURPOSE "))}
    assert lines.get("IMPORTS") == "[]", out.stdout + out.stderr[-3000:]
    assert lines["PURPOSE"] == "['keras dtype policy', 'umask (set, even if set back)']", lines


#: Module-level mutable containers that start empty are where hidden session state
#: hides. Each one the package has is named here with why it is not such state: a
#: cache (results are the same without it), display bookkeeping, or per-process OS
#: state. A dataset is reloaded through its handle (``imageset.handle``), never by
#: looking a name up in a module-level table (the old ``folder._FOLDERS``).
ALLOWED_MODULE_CONTAINERS = {
    "data/folder.py:_MEMO": "cachefiles.RecentResults: the last 4 folder reads (a cache)",
    "data/pairs.py:_PAIR_MEMO": "cachefiles.RecentResults: the last 4 pairs-folder reads (a cache)",
    "data/medmnist.py:_VERIFIED": "files whose MD5 this process verified (a cache of a check)",
    "data/medmnist.py:_LICENCE_SHOWN": "licence notices already printed (display only)",
    "data/privacy.py:_KEYS": "the privacy key, as read from the cache folder (a cache of a file)",
    "runlock.py:_held": "the run locks this process holds (OS locks belong to a process)",
    "sampling.py:_COMPILED": "compiled generate functions per model, weak keys (a cache)",
}
_CONTAINER_CALLS = {"dict", "list", "set", "OrderedDict", "defaultdict", "Counter", "deque",
                    "WeakKeyDictionary", "WeakValueDictionary", "WeakSet", "RecentResults"}


def _empty_containers(source: str) -> dict[str, str]:
    """name -> statement of every module-level ``name = <empty mutable container>`` in ``source``."""
    found = {}
    for node in ast.parse(source).body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        value = node.value
        func = value.func if isinstance(value, ast.Call) else None
        call = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        empty = (isinstance(value, ast.Dict) and not value.keys) or \
            (isinstance(value, (ast.List, ast.Set)) and not value.elts) or call in _CONTAINER_CALLS
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if empty and isinstance(target, ast.Name) and not target.id.startswith("__"):
                found[target.id] = ast.unparse(node)
    return found


def test_no_module_level_registry_of_datasets_or_other_hidden_tables():
    found = {f"{path.relative_to(PACKAGE).as_posix()}:{name}": statement for path in PACKAGE.rglob("*.py")
             for name, statement in _empty_containers(path.read_text()).items()}
    unexplained = {k: v for k, v in found.items() if k not in ALLOWED_MODULE_CONTAINERS}
    assert not unexplained, f"module-level state without a reason in ALLOWED_MODULE_CONTAINERS: {unexplained}"
    assert set(ALLOWED_MODULE_CONTAINERS) <= set(found), "stale ALLOWED_MODULE_CONTAINERS entries: remove them"
    from medgan_helpers.data import cachefiles, folder, pairs

    assert not hasattr(folder, "_FOLDERS") and not hasattr(folder, "load_by_id")
    # the "keep the last few results" cache is written once, and both folder readers use it
    assert isinstance(folder._MEMO, cachefiles.RecentResults) and isinstance(pairs._PAIR_MEMO, cachefiles.RecentResults)
    # the check sees a registry like the old one, and not constant tables
    old = "_FOLDERS: dict[str, tuple] = {}\nSIZES = {32: 1}\n_SEEN = set()\n__all__ = []\nx = cachefiles.RecentResults(4)\n"
    assert sorted(_empty_containers(old)) == ["_FOLDERS", "_SEEN", "x"]


def test_written_files_get_the_permissions_of_the_umask_without_changing_it(tmp_path):
    code = (
        "import os, sys\n"
        "from medgan_helpers.pictures import write_atomic\n"
        "for mask in (0o027, 0o002):\n"
        "    os.umask(mask)\n"
        "    path = write_atomic(f'{sys.argv[1]}/f{mask:o}.txt', b'x')\n"
        "    print(oct(os.stat(path).st_mode & 0o777), oct(os.umask(mask)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.stdout.split() == ["0o640", "0o27", "0o664", "0o2"], out.stdout + out.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f2.txt", "f27.txt"]  # no temporary file left
