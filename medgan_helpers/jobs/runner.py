"""The main job: execute the notebook sequence headlessly and index what it made.

``python -m medgan_helpers.jobs.runner`` (what ``python3 kit.py run`` calls) runs
every ``notebooks/NN_…`` notebook in order on the embedded brain-mri data, with a
progress line per notebook, and leaves in ``artifacts/``:

- ``notebooks/NN_name.ipynb`` and ``.html`` — each notebook as executed;
- ``runs/<run>/`` — the trained run, sample grids and evaluation report
  (written by the notebooks themselves);
- ``index.html`` — one page linking all of it, with the headline numbers and pictures;
- ``run_summary.json`` — status and wall time per notebook.

A failing notebook is named with its failing cell; what was already produced is
kept, the remaining notebooks still run (each runs on its own), and the exit
status is 1.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from medgan_helpers import config, fileio, runs
from medgan_helpers.pictures import write_atomic


@dataclass
class NotebookResult:
    """How one notebook's execution went."""

    name: str
    status: str  # "ok" | "failed" | "skipped"
    seconds: float
    failed_cell: int | None = None
    error: str = ""


def notebook_paths(selection: list[str] | None = None) -> list[Path]:
    """The committed notebooks in course order, optionally filtered by number/prefix."""
    if config.REPO_ROOT is None:
        raise FileNotFoundError(
            "The runner executes the notebooks of a checkout of the kit; none was found "
            "next to this package. Clone the repository and run `python3 kit.py run` there."
        )
    paths = sorted((config.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if selection:
        paths = [p for p in paths if any(p.stem.startswith(s) for s in selection)]
        if not paths:
            raise ValueError(f"no notebook matches {selection}")
    return paths


def _first_error(nb) -> tuple[int | None, str]:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, f"{output.get('ename')}: {output.get('evalue')}"
    return None, ""


def _export_html(nb, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
    target.write_text(body, encoding="utf-8")


def execute(nb, cwd: Path, timeout: int = 3600, quick: bool | None = None) -> tuple[str, int | None, str]:
    """Execute notebook ``nb`` in place (kernel in ``cwd``); the one executor of the repository.

    Used by the main job and by ``tools/build_notebooks.py``. Never raises on a
    failing cell: returns ``(status, failed cell index or None, error line)``,
    status ``"ok"`` or ``"failed"``, with every output up to the failure kept in
    ``nb``. ``quick`` sets ``MEDGAN_QUICK`` for the kernel (None: inherit).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    saved = os.environ.get("MEDGAN_QUICK")
    if quick is not None:
        os.environ["MEDGAN_QUICK"] = "1" if quick else "0"
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter
    )
    status, error, cell = "ok", "", None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        status = "failed"
        cell, error = _first_error(nb)
        if not error:
            error = str(exc).strip().splitlines()[-1][:500]
    except Exception as exc:  # kernel died, etc.: still keep what ran
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        if quick is not None:
            if saved is None:
                os.environ.pop("MEDGAN_QUICK", None)
            else:
                os.environ["MEDGAN_QUICK"] = saved
    return status, cell, error


def execute_notebook(path: Path, out_dir: Path, timeout: int = 3600) -> NotebookResult:
    """Execute one notebook into ``out_dir`` (ipynb + html), never raising on cell errors."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    start = time.time()
    status, cell, error = execute(nb, path.parent, timeout)
    seconds = time.time() - start
    nbformat.write(nb, out_dir / path.name)
    try:
        _export_html(nb, out_dir / f"{path.stem}.html")
    except Exception as exc:  # an export problem must not hide the run's result
        print(f"    (HTML export of {path.stem} failed: {exc})", flush=True)
    return NotebookResult(path.stem, status, round(seconds, 1), cell, error)


def _img_tag(path: Path, alt: str, width: int = 420) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(alt)}" width="{width}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'
    )


def _headline(evaluation: dict) -> dict:
    """The few numbers worth showing on the index page (see ``EvaluationReport.headline``)."""
    if isinstance(evaluation.get("headline"), dict):
        return evaluation["headline"]
    from medgan_helpers.evaluation.report import headline_numbers

    return headline_numbers(evaluation)


def _run_facts(run: runs.RunFolder) -> dict:
    cfg = run.config
    knobs = cfg.get("knobs") or {}
    facts = {
        "dataset": cfg.get("dataset"),
        "image size": cfg.get("image_size"),
        "training images": cfg.get("num_images"),
        "epochs": knobs.get("epochs"),
        "steps": cfg.get("steps"),
        "training time": f"{cfg['seconds']:.0f} s" if cfg.get("seconds") else None,
        "device": cfg.get("device"),
        "status": cfg.get("status"),
    }
    return {k: v for k, v in facts.items() if v is not None}


def _table(rows: dict) -> str:
    return "<table>" + "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    ) + "</table>"


def _evaluation_block(folder: Path, rel: str) -> str:
    if not (folder / "evaluation.json").exists():
        return "<p><em>Not evaluated yet (notebook 05 or 07 writes the report).</em></p>"
    evaluation = fileio.read_json_object(folder / "evaluation.json")
    if evaluation is None:
        return "<p><em>The evaluation report (evaluation.json) is damaged: evaluate again.</em></p>"
    return (
        "<h3>Headline numbers</h3>" + _table(_headline(evaluation))
        + f'<p><a href="{rel}/evaluation.json">full evaluation report (JSON)</a></p>'
    )


def write_index(artifacts: Path, results: list[NotebookResult], started: str) -> Path:
    """Write ``artifacts/index.html`` linking notebooks, runs, reports, exports and pictures."""
    rows = []
    for r in results:
        badge = {"ok": "✅", "failed": "❌", "skipped": "⏭"}[r.status]
        detail = "" if r.status == "ok" else html.escape(
            f"cell {r.failed_cell}: {r.error}" if r.failed_cell is not None else r.error
        )
        rows.append(
            f"<tr><td>{badge}</td><td>{html.escape(r.name)}</td>"
            f'<td><a href="notebooks/{r.name}.html">HTML</a> · '
            f'<a href="notebooks/{r.name}.ipynb">ipynb</a></td>'
            f"<td>{r.seconds:.0f} s</td><td>{detail}</td></tr>"
        )
    sections = [
        "<h2>Notebooks</h2><table><tr><th></th><th>notebook</th><th>output</th>"
        "<th>wall time</th><th>problem</th></tr>" + "".join(rows) + "</table>"
    ]
    for folder in runs.scan(artifacts):  # a damaged run is skipped with a one-line warning
        run = folder.path
        rel = run.relative_to(artifacts).as_posix()
        part = [f'<h2>Trained run: <a href="{rel}/">{html.escape(run.name)}</a></h2>',
                _table(_run_facts(folder))]
        pictures = []
        grids = sorted((run / "samples").glob("*.png"))
        if grids:
            pictures.append(_img_tag(grids[-1], f"samples after {grids[-1].stem}"))
        if (run / "evaluation.png").exists():
            pictures.append(_img_tag(run / "evaluation.png", "evaluation summary", 640))
        part.append('<div class="pics">' + "".join(pictures) + "</div>")
        part.append(_evaluation_block(run, rel))
        sections.append("".join(part))
    for export in sorted(p for p in (artifacts / "synthetic").glob("*") if p.is_dir()):
        rel = export.relative_to(artifacts).as_posix()
        card = export / "data_card.json"
        facts = {}
        info = fileio.read_json_object(card) if card.exists() else None
        if info is not None:
            facts = {"images": info.get("images"), "classes": ", ".join(info.get("classes") or []),
                     "trained on": info.get("trained_on"), "synthetic": info.get("synthetic")}
        sections.append(
            f'<h2>Synthetic dataset: <a href="{rel}/">{html.escape(export.name)}</a></h2>'
            + _table({k: v for k, v in facts.items() if v not in (None, "")})
            + f'<p><a href="{rel}/DATA_CARD.md">data card</a> · '
            f'<a href="{rel}/labels.csv">labels.csv</a></p>'
            + _evaluation_block(export, rel)
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedGAN kit — run of {started}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}
.pics{{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}}figure{{margin:0}}</style></head>
<body><h1>MedGAN teaching kit — main run</h1>
<p>Started {html.escape(started)} · quick mode: {config.is_quick()} ·
{sum(r.status == "ok" for r in results)}/{len(results)} notebooks ran cleanly.</p>
<p>Synthetic images are not patients: every number here is a screening aid, not a
clinical judgement. See notebook 05 for how to read them.</p>
{''.join(sections)}
</body></html>
"""
    return write_atomic(artifacts / "index.html", page.encode("utf-8"))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and {"mean", "std"} <= set(value):
        return f"{value['mean']:.4g} ± {value['std']:.2g}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 kit.py run", description="Run the notebook sequence into artifacts/.")
    parser.add_argument("--only", nargs="*", help="notebook numbers or prefixes (default: all)")
    parser.add_argument("--quick", action="store_true", help="MEDGAN_QUICK=1 settings")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["MEDGAN_QUICK"] = "1"

    artifacts = config.artifacts_dir()
    out_dir = artifacts / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = notebook_paths(args.only)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"MedGAN kit: running {len(paths)} notebooks into {artifacts} "
          f"({'quick' if config.is_quick() else 'full'} settings)", flush=True)
    results: list[NotebookResult] = []
    t0 = time.time()
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {path.stem} …", flush=True)
        result = execute_notebook(path, out_dir, timeout=args.timeout)
        results.append(result)
        if result.status == "ok":
            print(f"[{i}/{len(paths)}] {path.stem} ok in {result.seconds:.0f} s", flush=True)
        else:
            print(f"[{i}/{len(paths)}] {path.stem} FAILED at cell {result.failed_cell}: "
                  f"{result.error}\n    partial output kept in {out_dir / path.name}", flush=True)
        fileio.write_json(artifacts / "run_summary.json",
                        {"started": started, "quick": config.is_quick(),
                         "notebooks": [asdict(r) for r in results]})
    index = write_index(artifacts, results, started)
    failed = [r.name for r in results if r.status != "ok"]
    print(f"done in {time.time() - t0:.0f} s; open {index}", flush=True)
    if failed:
        print("failed notebooks: " + ", ".join(failed), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
