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
