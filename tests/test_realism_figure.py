"""``benchmarks/realism_figure.py``: real slices beside sample grids, at one size, or a clear refusal."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def figure():
    spec = importlib.util.spec_from_file_location("realism_figure", ROOT / "benchmarks" / "realism_figure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _grid_png(path: Path, side: int, value: int) -> str:
    Image.fromarray(np.full((side, side), value, dtype=np.uint8)).save(path)
    return str(path)


def test_the_real_grid_has_one_column_per_class_in_the_sample_grid_layout(figure):
    grid = figure.real_grid(image_size=64, per_class=4)
    assert grid.dtype == np.uint8
    assert grid.shape == (4 * 66 + 2, 4 * 66 + 2)  # 4 x 4 slices of 64 px with 2 px gaps, as SampleGrid draws
    assert grid[:2].max() == 0 and grid[:, :2].max() == 0  # the black gaps
    assert grid[2:66, 2:66].max() > 100  # a real slice, not a blank tile


def test_it_draws_the_real_grid_beside_grids_of_the_same_size(figure, tmp_path):
    out = tmp_path / "figure" / "compare.png"
    grid = _grid_png(tmp_path / "grid.png", 532, 128)
    assert figure.main(["--out", str(out), f"a run, 9,000 steps={grid}"]) == 0
    picture = np.asarray(Image.open(out).convert("L"))
    assert picture.shape[1] > picture.shape[0]  # two panels side by side
    assert picture.std() > 10  # the real slices and the grey grid, not an empty canvas


def test_grids_of_different_sizes_or_missing_files_are_refused(figure, tmp_path, capsys):
    small = _grid_png(tmp_path / "small.png", 266, 128)
    large = _grid_png(tmp_path / "large.png", 532, 128)
    with pytest.raises(SystemExit):
        figure.main(["--out", str(tmp_path / "x.png"), f"large={large}", f"small={small}"])
    assert "compare pictures at one size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        figure.main(["--out", str(tmp_path / "x.png"), f"missing={tmp_path / 'nope.png'}"])
    assert "expected TITLE=PNG with an existing PNG file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
