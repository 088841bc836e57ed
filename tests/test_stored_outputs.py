"""Stored notebook outputs hold no machine paths and no TensorFlow log noise (issue 14).

A committed notebook is read on GitHub by people who never ran it: a path such as
``/tmp/…``, ``/home/<user>/…`` or ``…/.venv/lib/python3.11/site-packages/…`` in an
output tells them about the machine that built it, not about the lesson, and
TensorFlow's C++ log lines (``E0000 00:00:… meta_optimizer.cc:… remapper failed``)
look like errors. These checks read every output of every committed notebook
(text, HTML, errors; not the pictures) and the stored gallery data, and train a
tiny GAN in a subprocess with TensorFlow's logging fully on, to show that the
remapper line is gone at its source rather than hidden.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

#: Absolute paths of a machine: temporary folders, home folders, the checkout, a venv.
MACHINE_PATH = re.compile(
    r"(?<![\w.:/-])/(?:tmp|root|home|work|Users|private|var/folders|usr|opt|mnt|srv|content)/"
    r"|site-packages|\.venv[/\\]|\b[A-Za-z]:\\(?:Users|Windows)\\"
)
#: TensorFlow / absl C++ log lines (E0000 00:00:1795… file.cc:123] …) and the old format.
TF_LOG = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"
    r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] tensorflow/",
    re.MULTILINE,
)
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def output_texts(nb) -> list[tuple[int, str]]:
    """(cell index, text) for every textual output of a notebook; pictures are skipped."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                found.append((index, output.get("text", "")))
            elif kind == "error":
                found.append((index, "\n".join([output.get("evalue", ""), *output.get("traceback", [])])))
            else:
                for mime, value in output.get("data", {}).items():
                    if mime in TEXT_MIMES:
                        text = value if isinstance(value, str) else json.dumps(value)
                        found.append((index, "".join(text) if isinstance(text, list) else text))
    return found


def problems(nb) -> list[str]:
    """What a notebook's stored outputs leak: machine paths and TensorFlow log lines."""
    found = []
    for index, text in output_texts(nb):
        for line in text.splitlines():
            if MACHINE_PATH.search(line):
                found.append(f"cell {index}: machine path: {line.strip()[:160]}")
            if TF_LOG.search(line):
                found.append(f"cell {index}: TensorFlow log line: {line.strip()[:160]}")
    return found


def _notebook(*outputs) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('x')")
    cell.outputs = list(outputs)
    nb.cells.append(cell)
    return nb


def test_the_scanner_finds_paths_and_log_lines():
    stream = nbformat.v4.new_output
    leaky = _notebook(
        stream("stream", name="stdout", text="wrote evaluation.json into /tmp/empty-art/evaluations\n"),
        stream("stream", name="stderr", text=(
            "/work/main/.venv/lib/python3.11/site-packages/keras/src/x.py:74: UserWarning: hm\n"
            "E0000 00:00:1795635285.342525    6727 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT\n")),
        stream("display_data", data={"text/plain": "Loaded /home/ana/medgan/data/pretrained/brain-mri-64"}),
        stream("stream", name="stderr", text="2026-01-02 10:11:12.123456: I tensorflow/core/x.cc:1] hi\n"),
    )
    found = problems(leaky)
    assert sum("machine path" in p for p in found) == 3
    assert sum("TensorFlow log line" in p for p in found) == 2
    clean = _notebook(
        stream("stream", name="stdout", text="wrote evaluation.json into evaluations/pretrained (under artifacts/)\n"),
        stream("display_data", data={"text/plain": "see https://colab.research.google.com/github/x/y"}),
        stream("stream", name="stdout", text="runs/brain-mri-64px-20260101 · 1/2 of the steps\n"),
    )
    assert problems(clean) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_hold_no_machine_paths_or_tensorflow_logs(path):
    found = problems(nbformat.read(path, as_version=4))
    assert not found, f"{path.name}:\n  " + "\n  ".join(found)


def test_stored_gallery_data_holds_no_machine_paths():
    gallery = ROOT / "docs" / "gallery"
    files = sorted(gallery.glob("*.json")) + sorted(gallery.glob("*.md"))
    assert files, "docs/gallery/ holds no data (benchmarks/failure_gallery.py writes it)"
    for file in files:
        leaks = [line for line in file.read_text().splitlines() if MACHINE_PATH.search(line)]
        assert not leaks, f"{file.name}: {leaks[:3]}"


def test_stored_gallery_was_drawn_with_todays_recipe_and_holds_every_case():
    """The gallery goes stale when the recipe changes (issue 22): its baseline must be today's recipe."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("failure_gallery", ROOT / "benchmarks" / "failure_gallery.py")
    failure_gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(failure_gallery)
    gallery_dir = ROOT / "docs" / "gallery"
    stored = json.loads((gallery_dir / "gallery.json").read_text())
    assert stored["setup"]["recipe"] == failure_gallery.recipe_facts(), (
        "the recipe changed since docs/gallery was drawn: run python benchmarks/failure_gallery.py and rewrite "
        "what notebooks 02 and 09 and the README say about it")
    assert list(stored["cases"]) == list(failure_gallery.CASES)
    for case, entry in stored["cases"].items():
        assert entry["what"] == failure_gallery.CASES[case][0], case
        assert (gallery_dir / f"{case}.png").is_file() and (gallery_dir / f"{case}_zoom.png").is_file(), case
        assert entry["steps"] == stored["setup"]["epochs"] * stored["setup"]["steps_per_epoch"], case
    assert stored["cases"]["baseline"]["settings"] == {}


@pytest.mark.slow
def test_training_subprocess_logs_no_remapper_failure(tmp_path):
    """The spectral-norm D trains without grappler's remapper failing (logging fully on)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import tensorflow as tf
        from helpers import blobs, tiny_gan
        images, labels = blobs(64)
        model = tiny_gan()
        model.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(16), epochs=1, verbose=0)
        print("trained", int(model.d_optimizer.iterations.numpy()), "D steps")
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "MEDGAN_ARTIFACTS": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trained 4 D steps" in done.stdout
    assert "remapper failed" not in done.stderr, done.stderr[-2000:]
    assert "LeakyReluGrad" not in done.stderr
