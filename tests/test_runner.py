"""The main job's runner: progress, failure naming, kept outputs and the index page."""

from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from medgan_helpers import runs
from medgan_helpers.jobs import runner


def _notebook(path, *sources):
    nb = new_notebook(cells=[new_markdown_cell("# test")] + [new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_clean_notebook_is_executed_and_exported(tmp_path):
    src = _notebook(tmp_path / "01_ok.ipynb", "x = 6 * 7", "print(x)")
    out = tmp_path / "out"
    out.mkdir()
    result = runner.execute_notebook(src, out)
    assert result.status == "ok" and result.failed_cell is None
    executed = nbformat.read(out / "01_ok.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"].strip() == "42"
    assert "42" in (out / "01_ok.html").read_text()


def test_a_failure_names_the_cell_and_keeps_what_ran(tmp_path):
    src = _notebook(tmp_path / "02_bad.ipynb", "print('made it')", "1 / 0", "print('never')")
    out = tmp_path / "out"
    out.mkdir()
    result = runner.execute_notebook(src, out)
    assert result.status == "failed"
    assert result.failed_cell == 2  # the markdown title is cell 0
    assert "ZeroDivisionError" in result.error
    kept = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert kept.cells[1].outputs[0]["text"].strip() == "made it"
    assert (out / "02_bad.html").exists()


def test_index_links_notebooks_run_numbers_and_pictures(tmp_path):
    from PIL import Image

    run = tmp_path / "runs" / "brain-mri-64px-x"
    (run / "samples").mkdir(parents=True)
    Image.new("L", (8, 8), 128).save(run / "samples" / "epoch_001.png")
    runs.RunFolder(run).write_config(dataset="brain-mri", image_size=64)
    (run / "evaluation.json").write_text(json.dumps({"headline": {"FD to train": 12.5}}))
    results = [
        runner.NotebookResult("01_ok", "ok", 3.0),
        runner.NotebookResult("02_bad", "failed", 1.0, failed_cell=2, error="ZeroDivisionError: x"),
    ]
    page = runner.write_index(tmp_path, results, "today").read_text()
    assert 'href="notebooks/01_ok.html"' in page and 'href="notebooks/02_bad.ipynb"' in page
    assert "cell 2: ZeroDivisionError" in page
    assert "FD to train" in page and "12.5" in page
    assert "data:image/png;base64," in page
    assert "runs/brain-mri-64px-x" in page


def test_index_lists_every_run_and_each_synthetic_export(tmp_path):
    for name, dataset in (("brain-mri-64px-a", "brain-mri"), ("folder-1a2b3c4d-64px-b", "folder-1a2b3c4d")):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        runs.RunFolder(run).write_config(dataset=dataset, image_size=64)
    export = tmp_path / "synthetic" / "folder-1a2b3c4d-64px-b-synthetic"
    export.mkdir(parents=True)
    (export / "data_card.json").write_text(json.dumps(
        {"synthetic": True, "images": 30, "classes": ["a", "b"], "trained_on": "folder-1a2b3c4d"}))
    (export / "evaluation.json").write_text(json.dumps({"headline": {"possible copies": "0.0 %"}}))
    page = runner.write_index(tmp_path, [runner.NotebookResult("07_x", "ok", 1.0)], "now").read_text()
    assert "brain-mri-64px-a" in page and "folder-1a2b3c4d-64px-b" in page
    assert "Not evaluated yet" in page  # the runs have no report
    assert 'href="synthetic/folder-1a2b3c4d-64px-b-synthetic/DATA_CARD.md"' in page
    assert "possible copies" in page and "folder-1a2b3c4d" in page
