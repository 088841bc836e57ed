"""The main job's runner: progress, failure naming, kept outputs and the index page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from medgan_helpers import runs
from medgan_helpers.jobs import front_page, runner, side_by_side

NO_SHIPPED = Path("/nonexistent-pretrained")  # write_index: look for no shipped models


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
    page = runner.write_index(tmp_path, results, "today", NO_SHIPPED).read_text()
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
    (export / "DATA_CARD.md").write_text("# card")
    (export / "data_card.json").write_text(json.dumps(
        {"synthetic": True, "images": 30, "classes": ["a", "b"], "trained_on": "folder-1a2b3c4d"}))
    (export / "evaluation.json").write_text(json.dumps({"headline": {"possible copies": "0.0 %"}}))
    page = runner.write_index(tmp_path, [runner.NotebookResult("07_x", "ok", 1.0)], "now", NO_SHIPPED).read_text()
    assert "brain-mri-64px-a" in page and "folder-1a2b3c4d-64px-b" in page
    assert "Not evaluated yet" in page  # the runs have no report
    assert 'href="synthetic/folder-1a2b3c4d-64px-b-synthetic/DATA_CARD.md"' in page
    assert "possible copies" in page and "folder-1a2b3c4d" in page
    assert "labels.csv" not in page  # only files that exist are linked


# -- the front page: order, paths, strips ---------------------------------------------


def _gan_run(root, name, dataset="brain-mri", evaluation=None, num_images=None):
    from PIL import Image

    run = root / "runs" / name
    (run / "samples").mkdir(parents=True)
    Image.new("L", (8, 8), 128).save(run / "samples" / "epoch_001.png")
    runs.RunFolder(run).write_config(dataset=dataset, image_size=64, num_images=num_images)
    if evaluation is not None:
        (run / "evaluation.json").write_text(json.dumps({"headline": evaluation}))
    return run


def _fake_draw(model):
    """Real and generated images of different source sizes: the page must show them alike."""
    real = np.linspace(-1, 1, 8 * 64 * 64).reshape(8, 64, 64, 1).astype("float32")
    generated = -real[:, ::2, ::2]
    return side_by_side.Strips(real, generated, "real: brain-mri, 2 per class", "generated: seed 0")


REALISM = {"realism: can a fresh CNN tell generated from real?": "held-out accuracy 0.990 ± 0.006 "
           "(two real halves: 0.499 ± 0.005; 0.5 = cannot tell; 3 seeds)",
           "FD to real train": "2.27 (noise floor 20.49, real test vs train 13.46)"}


def _page(tmp_path, monkeypatch, results=None):
    monkeypatch.setattr(side_by_side, "draw_sampler", _fake_draw)
    _gan_run(tmp_path, "folder-1a2b3c4d-64px-20990101-000000-demo", dataset="folder-1a2b3c4d",
             evaluation={"FD to real train": "2.27 (noise floor 20.49)"}, num_images=98)
    _gan_run(tmp_path, "brain-mri-64px-20000101-000000-main", evaluation=REALISM)
    results = results or [runner.NotebookResult("04_train", "ok", 700.0), runner.NotebookResult("05_eval", "ok", 20.0)]
    return runner.write_index(tmp_path, results, "today", NO_SHIPPED).read_text()


def test_front_page_order_side_by_side_then_main_run_then_demo_then_tables(tmp_path, monkeypatch):
    """The demo run is the newest, yet the page shows the main brain-mri run before it."""
    page = _page(tmp_path, monkeypatch)
    marks = ['id="side-by-side"', 'id="main-run"', 'id="own-data-demo"', 'id="notebooks"']
    positions = [page.index(m) for m in marks]
    assert positions == sorted(positions), dict(zip(marks, positions))
    main = page[page.index('id="main-run"'):page.index('id="own-data-demo"')]
    assert "brain-mri-64px-20000101-000000-main" in main and "folder-1a2b3c4d" not in main
    demo = page[page.index('id="own-data-demo"'):page.index('id="notebooks"')]
    assert "A small demo, not a result" in demo and "folder of 98 images" in demo and "not comparable" in demo
    first = page[page.index('id="side-by-side"'):page.index('id="main-run"')]
    assert 'class="strip real"' in first and 'class="strip generated"' in first
    assert "held-out accuracy 0.990" in first and "two real halves: 0.499" in first
    assert "folder-1a2b3c4d" not in first  # the demo is not the GAN family's face
    # pictures before tables within the main run's section
    assert main.index("<img") < main.index("<table")


def test_the_main_run_is_the_one_notebook_05_evaluates_not_a_newer_exercise(tmp_path, monkeypatch):
    monkeypatch.setattr(side_by_side, "draw_sampler", _fake_draw)
    main = _gan_run(tmp_path, "brain-mri-64px-20000101-000000-main")
    runs.RunFolder(main).write_config(status="finished")
    exercise = _gan_run(tmp_path, "brain-mri-32px-20990101-000000-ex")
    runs.RunFolder(exercise).write_config(image_size=32, status="finished")
    library, demos = side_by_side.main_runs(tmp_path)
    assert [r.path.name for r in library] == [main.name, exercise.name] and demos == []
    page = runner.write_index(tmp_path, [], "today", NO_SHIPPED).read_text()
    section = page[page.index('id="main-run"'):page.index('id="notebooks"')]
    assert section.index(main.name) < section.index(exercise.name)
    assert "trained here: runs/" + main.name in page[:page.index('id="main-run"')]


def test_front_page_strips_are_the_same_size_and_linked_relatively(tmp_path, monkeypatch):
    from PIL import Image

    page = _page(tmp_path, monkeypatch)
    links = re.findall(r'class="strip (real|generated)" alt="[^"]*" src="([^"]+)"', page)
    assert [role for role, _ in links] == ["real", "generated"]
    sizes = {Image.open(tmp_path / src).size for _, src in links}
    assert sizes == {(8 * side_by_side.TILE + 7 * 2, side_by_side.TILE)}, sizes


def test_front_page_holds_no_absolute_path(tmp_path, monkeypatch):
    failing = runner.NotebookResult("04_train", "failed", 5.0, failed_cell=3,
                                    error=f"FileNotFoundError: {tmp_path}/runs/x/config.json and /home/u/.venv/lib")
    page = _page(tmp_path, monkeypatch, results=[failing])
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    for needle in (str(tmp_path), "/tmp", "/home", "/work", ".venv", "/usr/"):
        assert needle not in text, needle
    assert "FileNotFoundError: artifacts/runs/x/config.json" in text


def test_a_model_without_a_report_says_not_evaluated_and_a_broken_one_says_why(tmp_path):
    _gan_run(tmp_path, "brain-mri-64px-20000101-000000-bare")  # no weights, no evaluation.json
    page = runner.write_index(tmp_path, [], "today", NO_SHIPPED).read_text()
    first = page[page.index('id="side-by-side"'):page.index('id="main-run"')]
    assert "Not evaluated" in first and "No pictures: could not draw it" in first
    assert "Nothing to show for: Diffusion" in first


def test_the_shipped_model_is_drawn_beside_real_training_images(tmp_path):
    """data/pretrained/brain-mri-64 is found by its config, drawn, and its card's realism quoted."""
    from medgan_helpers import config

    models = side_by_side.find_models(tmp_path, config.pretrained_dir())
    shipped = [m for m in models if m.label == "shipped: data/pretrained/brain-mri-64"]
    assert shipped and shipped[0].family == "gan"
    realism = side_by_side.realism_rows(shipped[0].evaluation)
    assert any("two real halves" in v for v in realism.values()), realism
    strips = side_by_side.draw(shipped[0])
    assert not strips.problem, strips.problem
    assert strips.real.shape == strips.generated.shape == (8, 64, 64, 1)
    assert "cerebellum / brainstem, basal ganglia / ventricles" in strips.real_caption


def test_a_shipped_model_of_another_family_is_found_by_its_config(tmp_path):
    folder = tmp_path / "pretrained" / "brain-mri-64-diffusion"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"dataset": "brain-mri", "image_size": 64,
                                                    "gan": {"family": "diffusion"}}))
    (folder / "evaluation.json").write_text(json.dumps({"headline": REALISM}))
    models = side_by_side.find_models(tmp_path / "artifacts", tmp_path / "pretrained")
    assert [(m.family, m.label) for m in models] == [("diffusion", "shipped: data/pretrained/brain-mri-64-diffusion")]
    assert "held-out accuracy 0.990" in side_by_side.realism_rows(models[0].evaluation)[
        "realism: can a fresh CNN tell generated from real?"]


# -- budgets -----------------------------------------------------------------------------


def test_budgets_cover_every_notebook_and_fit_the_main_job():
    numbers = {p.name[:2] for p in runner.notebook_paths()} | {"10"}
    assert numbers <= set(runner.BUDGET_S), numbers - set(runner.BUDGET_S)
    total = sum(v for k, v in runner.BUDGET_S.items() if "01" <= k <= "11")
    assert total <= runner.TOTAL_BUDGET_S == 35 * 60, total


def test_progress_line_puts_the_budget_beside_the_time_and_flags_an_overrun():
    ok = runner.NotebookResult("04_training_with_train_step", "ok", 412.3, budget_s=480)
    assert runner.progress_line(ok) == "04_training_with_train_step ok in 412 s (budget 480 s)"
    assert not ok.over_budget
    late = runner.NotebookResult("04_training_with_train_step", "ok", 939.0)
    assert late.budget_s == runner.BUDGET_S["04"] and late.over_budget
    assert f"(budget {runner.BUDGET_S['04']} s) OVER BUDGET by {939 - runner.BUDGET_S['04']} s" in runner.progress_line(late)
    failed = runner.NotebookResult("99_new", "failed", 3.0, failed_cell=2, error="ZeroDivisionError: x")
    assert runner.progress_line(failed) == "99_new FAILED at cell 2 in 3 s (no budget): ZeroDivisionError: x"


def test_run_summary_and_index_table_hold_budget_and_overrun(tmp_path):
    results = [runner.NotebookResult("04_train", "ok", 939.0), runner.NotebookResult("06_sampler", "ok", 14.0)]
    saved = runner.summary(results, "today")
    assert saved["over_budget"] == ["04_train"] and saved["budget_s"] == runner.BUDGET_S["04"] + runner.BUDGET_S["06"]
    assert saved["notebooks"][0]["budget_s"] == runner.BUDGET_S["04"] and saved["notebooks"][0]["over_budget"]
    assert saved["notebooks"][1]["over_budget"] is False
    page = runner.write_index(tmp_path, results, "today", NO_SHIPPED).read_text()
    row = re.search(r"<tr><td>✅</td><td>04_train</td>.*?</tr>", page).group(0)
    assert "939 s" in row and f"{runner.BUDGET_S['04']} s" in row and "over budget" in row
    row = re.search(r"<tr><td>✅</td><td>06_sampler</td>.*?</tr>", page).group(0)
    assert "over budget" not in row


def test_main_prints_the_budget_and_stores_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDGAN_ARTIFACTS", str(tmp_path))
    monkeypatch.delenv("MEDGAN_PRESET", raising=False)  # main sets it; restored after the test
    monkeypatch.setattr(runner, "notebook_paths", lambda only: [Path("04_train.ipynb")])
    monkeypatch.setattr(runner, "execute_notebook", lambda path, out, timeout: runner.NotebookResult(path.stem, "ok", 900.0))
    monkeypatch.setattr(runner, "write_index", lambda artifacts, results, started: artifacts / "index.html")
    assert runner.main([]) == 0
    out = capsys.readouterr().out
    assert f"04_train ok in 900 s (budget {runner.BUDGET_S['04']} s) OVER BUDGET" in out
    assert "over budget: 04_train" in out
    saved = json.loads((tmp_path / "run_summary.json").read_text())
    assert saved["notebooks"][0]["over_budget"] is True


def test_a_pix2pix_run_is_drawn_beside_the_real_test_slices_it_was_given(tmp_path):
    """An (untrained) pix2pix run in artifacts/pix2pix: real T1 test slices above its outputs."""
    from medgan_helpers import data, pix2pix

    pairs = data.load_dataset("brain-mri-pairs", 32, "train", seed=0)
    model = pix2pix.build(pairs, {"g_base_filters": 4, "d_base_filters": 4, "max_filters": 16})
    run = runs.RunFolder.new("brain-mri-pairs-tissue", 32, root=tmp_path / "pix2pix")
    pix2pix.save(model, run)
    models = side_by_side.find_models(tmp_path, NO_SHIPPED)
    assert [(m.family, m.label) for m in models] == [("pix2pix", f"trained here: pix2pix/{run.path.name}")]
    strips = side_by_side.draw(models[0])
    assert not strips.problem, strips.problem
    assert strips.real.shape == strips.generated.shape == (8, 32, 32, 1)
    assert "test split" in strips.real_caption and "tissue maps" in strips.generated_caption


def test_a_shipped_diffusion_model_is_drawn_like_the_gan(tmp_path):
    """A diffusion model under data/pretrained, known only by its config.json's family, gets its row."""
    import keras

    from medgan_helpers import data, diffusion, recipe

    names = data.load_dataset("brain-mri", 32, "train", seed=0).class_names
    cfg = recipe.diffusion_config(base_filters=4, max_filters=8, depth=1, time_dim=8, sample_steps=2)
    keras.utils.set_random_seed(0)
    model = diffusion.Diffusion.from_config(cfg.for_data(32, 1, names))
    model.compile()
    runs.save_model(model, tmp_path / "pretrained" / "brain-mri-32-diffusion", kind="pretrained", dataset="brain-mri")
    models = side_by_side.find_models(tmp_path / "artifacts", tmp_path / "pretrained")
    assert [(m.family, m.label) for m in models] == [("diffusion", "shipped: data/pretrained/brain-mri-32-diffusion")]
    strips = side_by_side.draw(models[0])
    assert not strips.problem, strips.problem
    assert strips.real.shape == strips.generated.shape == (8, 32, 32, 1)
    page = front_page.write(tmp_path / "artifacts", [], "today", tmp_path / "pretrained", quick=True).read_text()
    assert 'id="family-diffusion"' in page and "Not evaluated" in page


def test_notebook_11_gets_a_pointer_since_it_saves_no_model(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "11_seg.html").write_text("<html></html>")
    page = runner.write_index(tmp_path, [runner.NotebookResult("11_seg", "ok", 500.0)], "today", NO_SHIPPED).read_text()
    first = page[page.index('id="side-by-side"'):page.index('id="main-run"')]
    assert 'id="family-segmenter"' in first and 'href="notebooks/11_seg.html"' in first
    page = runner.write_index(tmp_path, [], "today", NO_SHIPPED).read_text()
    assert 'id="family-segmenter"' not in page  # notebook 11 did not run: nothing to point at


def test_the_preset_comes_from_the_environment_and_quick_wins(monkeypatch):
    from medgan_helpers import config, evaluation

    monkeypatch.delenv("MEDGAN_QUICK", raising=False)
    monkeypatch.delenv("MEDGAN_PRESET", raising=False)
    assert config.preset() == "full"
    monkeypatch.setenv("MEDGAN_PRESET", "LAB")
    assert config.preset() == "lab"
    monkeypatch.setenv("MEDGAN_QUICK", "1")
    assert config.preset() == "quick"
    monkeypatch.delenv("MEDGAN_QUICK")
    monkeypatch.setenv("MEDGAN_PRESET", "fast")
    with pytest.raises(ValueError, match="MEDGAN_PRESET='fast'.*'full'.*'lab'"):
        config.preset()
    full, lab, quick = (evaluation.settings(preset=p) for p in ("full", "lab", "quick"))
    assert full == evaluation.settings() and quick == evaluation.settings(quick=True)
    assert quick["n_samples"] < lab["n_samples"] < full["n_samples"]
    assert lab["utility_epochs"] < full["utility_epochs"] and lab["feature_epochs"] < full["feature_epochs"]
    with pytest.raises(ValueError, match="unknown preset"):
        evaluation.settings(preset="fast")


def test_a_notebook_that_reads_the_preset_runs_lab_in_the_main_job_and_says_so(tmp_path, monkeypatch):
    reads = _notebook(tmp_path / "05_reads.ipynb", "from medgan_helpers import config\nPRESET = config.preset()",
                      "print(PRESET)")
    reads_nb = nbformat.read(reads, as_version=4)
    reads_nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(reads_nb, reads)
    plain = _notebook(tmp_path / "06_plain.ipynb", "print('no preset here')")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.delenv("MEDGAN_QUICK", raising=False)
    monkeypatch.setenv("MEDGAN_PRESET", "lab")
    lab = runner.execute_notebook(reads, out)
    assert lab.status == "ok" and lab.preset == "lab"
    printed = nbformat.read(out / "05_reads.ipynb", as_version=4).cells[2].outputs[0]["text"]
    assert printed.strip() == "lab"  # the kernel saw the preset
    assert runner.progress_line(lab).endswith(f"(budget {runner.BUDGET_S['05']} s, lab preset)")
    assert runner.execute_notebook(plain, out).preset == "full"
    page = runner.write_index(tmp_path, [lab, runner.NotebookResult("06_plain", "ok", 1.0)], "now",
                              NO_SHIPPED).read_text()
    assert "1 notebook ran with the lab preset" in page
    assert re.search(r"<td>05_reads</td>.*?<td>lab</td>", page)
