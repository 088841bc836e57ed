"""The test suite keeps its own rules (issue 20, "tests that help").

- No non-strict xfail: a test that passes whichever way it goes tells nobody anything.
  A known bug is fixed, or its test is skipped with the reason; a skip for a known bug
  names the note that describes it (a file in ``docs/`` or ``RESULTS.md``).
- Every skip says why.
- Exercise tests follow one scheme: ``tests/test_exercises_nbNN.py``, each test named
  ``test_nbNN_exN_<what>`` (``test_nbNN_<what>`` for what spans the notebook), and no
  other test file tests exercise checks.
- A fixture in ``conftest.py`` is not copied into a test file.

Each rule is a function over one file's source, and ``test_the_rules_catch_what_they_forbid``
feeds them broken sources, so none of these tests is vacuous.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: Where a skip for a known bug points: a file in docs/ or a section of RESULTS.md.
NOTE = re.compile(r"\b(docs/[\w./-]+|RESULTS\.md)")
EXERCISE_FILE = re.compile(r"test_exercises_nb(\d\d)\.py")


def _dotted(node: ast.AST) -> str:
    """``pytest.mark.skip`` for that attribute chain, "" for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def _text(node: ast.AST | None) -> str | None:
    """The literal text of a string or f-string (its constant parts), None when not literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _reason_problem(reason: ast.AST | None, where: str) -> str | None:
    if reason is None:
        return f"{where} has no reason: say why it is skipped"
    text = _text(reason)
    if text is not None and not text.strip():
        return f"{where} has an empty reason"
    if text is not None and re.search(r"\bbug\b", text, re.I):
        note = NOTE.search(text)
        if not note:
            return f"{where} skips a known bug without naming its note (a docs/ file or RESULTS.md)"
        if not (ROOT / note.group(1).rstrip(".")).exists():
            return f"{where} names {note.group(1)}, which does not exist"
    return None


def skip_and_xfail_problems(source: str, name: str = "<source>") -> list[str]:
    """Every xfail, and every skip without a reason, in one test file's source."""
    tree = ast.parse(source)
    calls = {id(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        dotted, call = _dotted(node), calls.get(id(node))
        where = f"{name}:{node.lineno} {dotted}"
        if dotted in ("pytest.skip", "pytest.xfail") and call is None:
            continue  # pytest.skip.Exception and the like: not a skip
        if dotted == "pytest.xfail":
            problems.append(f"{where}: an imperative xfail; fix the bug or pytest.skip with a reason")
        elif dotted == "pytest.mark.xfail":
            strict = _keyword(call, "strict") if call else None
            if strict is not None and not (isinstance(strict, ast.Constant) and strict.value is True):
                problems.append(f"{where}: a non-strict xfail passes whichever way it goes")
            elif call is None or _keyword(call, "reason") is None:
                problems.append(f"{where} has no reason")
        elif dotted in ("pytest.skip", "pytest.mark.skip"):
            reason = (_keyword(call, "reason") or (call.args[0] if call.args else None)) if call else None
            problems.append(_reason_problem(reason, where))
        elif dotted == "pytest.mark.skipif":
            problems.append(_reason_problem(_keyword(call, "reason") if call else None, where))
    return [p for p in problems if p]


def exercise_naming_problems(source: str, name: str) -> list[str]:
    """Exercise tests live in test_exercises_nbNN.py and are named test_nbNN_..."""
    tree = ast.parse(source)
    match = EXERCISE_FILE.fullmatch(name)
    imports_exercises = any(
        (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("medgan_helpers.exercises"))
        or (isinstance(n, ast.ImportFrom) and n.module == "medgan_helpers"
            and any(a.name == "exercises" for a in n.names))
        for n in ast.walk(tree)
    )
    if not match:
        return [f"{name} tests exercise checks: move them to test_exercises_nbNN.py"] if imports_exercises else []
    prefix = f"test_nb{match.group(1)}_"
    return [f"{name}:{f.lineno} {f.name} does not start with {prefix}" for f in tree.body
            if isinstance(f, ast.FunctionDef) and f.name.startswith("test_") and not f.name.startswith(prefix)]


def fixtures(source: str) -> dict[str, str]:
    """{fixture name: its code as a syntax tree dump, docstring left out} for one file."""

    def is_fixture(decorator: ast.AST) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return _dotted(target) == "pytest.fixture"

    found = {}
    for f in ast.walk(ast.parse(source)):
        if isinstance(f, ast.FunctionDef) and any(is_fixture(d) for d in f.decorator_list):
            body = f.body[1:] if _text(getattr(f.body[0], "value", None)) is not None else f.body
            found[f.name] = ast.dump(ast.Module(body=body, type_ignores=[]), annotate_fields=False)
    return found


def copied_fixture_problems(source: str, name: str, shared: dict[str, str]) -> list[str]:
    """A test file that defines a fixture of conftest.py again, with the same code, has copied it."""
    return [f"{name} copies fixture {f!r}: conftest.py has it" for f, code in sorted(fixtures(source).items())
            if shared.get(f) == code]


def _test_sources() -> dict[str, str]:
    """Every test file's source, by file name (helpers.py and conftest.py hold no tests)."""
    return {p.name: p.read_text() for p in sorted(TESTS.glob("test_*.py"))}


def test_no_xfail_and_every_skip_says_why():
    sources = {p.name: p.read_text() for p in sorted(TESTS.glob("*.py"))}  # conftest and helpers too
    problems = [p for name, text in sources.items() for p in skip_and_xfail_problems(text, name)]
    assert not problems, "\n".join(problems)


def test_pytest_makes_every_xfail_strict_and_every_marker_known():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert options.get("xfail_strict") is True
    assert "--strict-markers" in options["addopts"].split()
    assert any(m.startswith("slow:") for m in options["markers"])  # kit.py test --fast leaves these out


def test_exercise_tests_follow_one_naming_scheme():
    sources = _test_sources()
    problems = [p for name, text in sources.items() for p in exercise_naming_problems(text, name)]
    assert not problems, "\n".join(problems)
    numbers = {EXERCISE_FILE.fullmatch(n).group(1) for n in sources if EXERCISE_FILE.fullmatch(n)}
    modules = {p.stem[2:] for p in (ROOT / "medgan_helpers" / "exercises").glob("nb??.py")}
    assert numbers == modules, f"exercise modules without a test file: {sorted(modules - numbers)}"


def test_conftest_fixtures_are_not_copied_into_test_files():
    shared = fixtures((TESTS / "conftest.py").read_text())
    assert {"artifacts", "cache"} <= shared.keys()
    problems = [p for name, text in _test_sources().items() for p in copied_fixture_problems(text, name, shared)]
    assert not problems, "\n".join(problems)


BROKEN = '''
import pytest

pytestmark = pytest.mark.skipif(True)

@pytest.mark.xfail(strict=False, reason="flaky")
def test_a(): ...

@pytest.mark.xfail
def test_b(): ...

@pytest.mark.skip
def test_c(): ...

@pytest.mark.skip(reason="")
def test_d(): ...

@pytest.mark.skip(reason="a known bug in the loader")
def test_e(): ...

@pytest.mark.skip(reason="a known bug, see docs/no-such-note.md")
def test_f(): ...

def test_g():
    pytest.skip()
    pytest.xfail("later")

@pytest.fixture()
def cache(tmp_path): ...
'''

FINE = '''
import pytest

pytestmark = pytest.mark.skipif(True, reason="needs Linux /proc")

@pytest.mark.xfail(reason="strict by the pyproject setting")
def test_a(): ...

@pytest.mark.xfail(strict=True, reason="strict")
def test_b(): ...

@pytest.mark.skip("no GPU here")
def test_c(): ...

@pytest.mark.skip(reason="a known bug: RESULTS.md, section 'mirrored'")
def test_d(): ...

def test_e(why):
    pytest.skip(why)
    pytest.skip(reason=f"not built yet ({why})")
    with pytest.raises(pytest.skip.Exception):
        pytest.skip("a reason")
'''


def test_the_rules_catch_what_they_forbid():
    problems = skip_and_xfail_problems(BROKEN, "t.py")
    assert len(problems) == 9, "\n".join(problems)
    for line, words in ((4, "no reason"), (6, "non-strict"), (9, "no reason"), (12, "no reason"),
                        (15, "empty reason"), (18, "without naming its note"), (21, "does not exist"),
                        (25, "no reason"), (26, "imperative xfail")):
        assert any(p.startswith(f"t.py:{line} ") and words in p for p in problems), (line, words, problems)
    assert skip_and_xfail_problems(FINE, "t.py") == []

    assert exercise_naming_problems("from medgan_helpers.exercises import nb01\n", "test_data.py")
    assert exercise_naming_problems("from medgan_helpers import data, exercises\n", "test_data.py")
    assert exercise_naming_problems("def test_nb02_ex1_x(): ...\n", "test_exercises_nb01.py")
    assert exercise_naming_problems("def test_nb01_ex1_x(): ...\ndef _helper(): ...\n", "test_exercises_nb01.py") == []
    shared = fixtures('@pytest.fixture()\ndef cache(tmp_path):\n    """Why."""\n    ...\n')
    assert copied_fixture_problems(BROKEN, "t.py", shared) == ["t.py copies fixture 'cache': conftest.py has it"]
    assert copied_fixture_problems(BROKEN.replace("(tmp_path): ...", "(tmp_path): return 1"), "t.py", shared) == []
