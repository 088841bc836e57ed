"""The main job's front page, ``artifacts/index.html``, in the order a reader asks.

1. **Real and generated, side by side** — for every model family the run made or
   the kit ships (GAN, diffusion, pix2pix; notebook 11's segmenter saves no files
   and gets a pointer to its notebook), a strip of real images above a strip of
   generated ones, same tile size, same number, same class order, with the
   model's realism numbers beside their real-vs-real floors, or "not evaluated".
2. **The main brain-mri run** (notebooks 04/05): pictures, facts, evaluation.
3. **The own-data demo** (notebook 07's ``folder-*`` run), labelled as a small
   demo whose numbers are not comparable with the main run's.
4. Other runs, the **notebooks table** (status, wall time beside its budget) and
   the synthetic exports.

The strips are PNG files under ``artifacts/front_page/``, linked relatively; the
run pictures are embedded. The page holds no absolute path (error texts are
scrubbed), so the folder can be zipped and opened anywhere.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medgan_helpers import config, fileio, runs
from medgan_helpers.jobs.side_by_side import (
    FAMILIES,
    STRIPS,
    TILE,
    Model,
    Strips,
    draw,
    family_runs,
    find_models,
    headline,
    main_runs,
    realism_rows,
    save_strips,
)
from medgan_helpers.pictures import write_atomic


# ----------------------------------------------------------------------------- HTML pieces
def scrub(text: str, artifacts: Path | None = None) -> str:
    """``text`` without absolute paths: the artifacts folder and the checkout become relative names."""
    for root, name in ((artifacts, "artifacts"), (config.REPO_ROOT, "."), (Path.home(), "~")):
        if root is not None:
            text = text.replace(str(root), name)
    return re.sub(r"(?<![\w.:/~+=-])/(?:[^\s/'\"<>:]+/)+", "…/", text)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and {"mean", "std"} <= set(value):
        return f"{value['mean']:.4g} ± {value['std']:.2g}"
    return str(value)


def table(rows: dict) -> str:
    return "<table>" + "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(fmt(v))}</td></tr>" for k, v in rows.items()
    ) + "</table>"


def img_tag(path: Path, alt: str, width: int = 420) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" width="{width}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def strip_figure(strips: Strips, role: str) -> str:
    caption = strips.real_caption if role == "real" else strips.generated_caption
    return (f'<figure class="strip"><img class="strip {role}" alt="{role} images" '
            f'src="{html.escape(strips.files[role])}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def model_block(model: Model, strips: Strips, artifacts: Path) -> str:
    parts = [f"<h4>{html.escape(model.label)}</h4>"]
    if strips.problem:
        parts.append(f'<p class="problem"><em>No pictures: {html.escape(scrub(strips.problem, artifacts))}</em></p>')
    else:
        parts.append('<div class="side-by-side">' + strip_figure(strips, "real")
                     + strip_figure(strips, "generated") + "</div>")
    realism = realism_rows(model.evaluation)
    if realism:
        parts.append("<p>Realism, each beside its real-vs-real floor:</p>" + table(realism))
    else:
        parts.append('<p class="not-evaluated"><em>Not evaluated: no evaluation report for this model '
                     "(notebook 05 evaluates the main run; the pretraining job, the shipped model).</em></p>")
    return '<div class="model">' + "".join(parts) + "</div>"


def side_by_side_section(artifacts: Path, models: list[Model], results: Sequence) -> str:
    """The first section: one block per family, real strip above generated strip for each model."""
    strips_dir = artifacts / STRIPS
    for stale in strips_dir.glob("*.png") if strips_dir.is_dir() else []:
        stale.unlink()
    blocks = [family_block(family, [m for m in models if m.family == family], artifacts, results)
              for family in FAMILIES]
    shown = {m.family for m in models}
    absent = [FAMILIES[f] for f in ("gan", "diffusion", "pix2pix") if f not in shown]
    note = (f"<p><em>Nothing to show for: {html.escape('; '.join(absent))} — no such model was trained "
            "in this artifacts folder or ships with the kit.</em></p>") if absent else ""
    return ('<section id="side-by-side"><h2>Real and generated, side by side</h2>'
            f"<p>Every tile is {TILE} px square, real above generated, in the same class order. "
            "Look first, then read the realism numbers: a fresh CNN's held-out accuracy at telling "
            "generated from real (0.5 = cannot tell), fine-detail energy and the intensity distance, "
            "each against two halves of real images.</p>" + "".join(blocks) + note + "</section>")


def family_block(family: str, members: list[Model], artifacts: Path, results: Sequence) -> str:
    """One family's models, each drawn and saved; the segmenter's pointer; "" when there is nothing."""
    body = [model_block(model, save_strips(draw(model), artifacts, f"{family}-{i}"), artifacts)
            for i, model in enumerate(members)]
    if family == "segmenter" and not body:
        body = [segmenter_note(artifacts, results)]
    if not "".join(body):
        return ""
    return (f'<section class="family" id="family-{family}"><h3>{html.escape(FAMILIES[family])}</h3>'
            + "".join(body) + "</section>")


def segmenter_note(artifacts: Path, results: Sequence) -> str:
    """Notebook 11 saves no model files: say so, and point to its executed notebook when it ran."""
    ran = [r.name for r in results if r.name.startswith("11") and (artifacts / "notebooks" / f"{r.name}.html").exists()]
    if not ran:
        return ""
    link = f'<a href="notebooks/{html.escape(ran[0])}.html">notebook 11</a>'
    return ("<p>Notebook 11 trains its segmenter and its mask-to-image generator in memory and saves "
            f"no model files, so there is nothing to draw here: its synthetic and real slices on the same "
            f"masks, and their realism numbers, are in {link}.</p>")


def run_facts(run: runs.RunFolder) -> dict:
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


def evaluation_block(folder: Path, rel: str) -> str:
    if not (folder / "evaluation.json").exists():
        return "<p><em>Not evaluated yet (notebook 05 or 07 writes the report).</em></p>"
    evaluation = fileio.read_json_object(folder / "evaluation.json")
    if evaluation is None:
        return "<p><em>The evaluation report (evaluation.json) is damaged: evaluate again.</em></p>"
    return ("<h4>Headline numbers</h4>" + table(headline(evaluation))
            + f'<p><a href="{rel}/evaluation.json">full evaluation report (JSON)</a></p>')


def run_block(run: runs.RunFolder, artifacts: Path, heading: str, intro: str = "") -> str:
    """One run: pictures first (last sample grid, evaluation summary), then facts and numbers."""
    rel = run.path.relative_to(artifacts).as_posix()
    pictures = []
    grids = sorted((run.path / "samples").glob("*.png"))
    if grids:
        pictures.append(img_tag(grids[-1], f"samples after {grids[-1].stem}"))
    if (run.path / "evaluation.png").exists():
        pictures.append(img_tag(run.path / "evaluation.png", "evaluation summary", 640))
    return (f'<h3>{heading}: <a href="{rel}/">{html.escape(run.path.name)}</a></h3>{intro}'
            f'<div class="pics">{"".join(pictures)}</div>' + table(run_facts(run)) + evaluation_block(run.path, rel))


DEMO_CAVEATS = (
    "<p><strong>A small demo, not a result.</strong> Notebook 07 trains on a folder of {n} images "
    "(by default the kit's demo folder) to show the own-data workflow end to end (loading, "
    "de-identification checks, training, export). Its numbers are not comparable with the main run's: its feature-space "
    "classifier is trained on those few images, its noise floor compares two halves of a few dozen "
    "images (so floors are large and noisy), and Fréchet distances are biased upwards at small "
    "sample sizes. Expect blotchy samples; read it as a smoke test of the pipeline.</p>"
)


def main_run_section(library: list[runs.RunFolder], artifacts: Path) -> str:
    if not library:
        return ('<section id="main-run"><h2>The main brain-mri run</h2><p><em>No trained run in this '
                "artifacts folder (notebook 04 trains one).</em></p></section>")
    return ('<section id="main-run"><h2>The main brain-mri run</h2>'
            + run_block(library[0], artifacts, "Run", "<p>Trained by notebook 04, evaluated by notebook 05.</p>")
            + "</section>")


def demo_section(demos: list[runs.RunFolder], artifacts: Path) -> str:
    if not demos:
        return ""
    blocks = [run_block(run, artifacts, "Demo run", DEMO_CAVEATS.format(n=run.config.get("num_images") or "about 100"))
              for run in demos]
    return '<section id="own-data-demo"><h2>Your own data: a small demo (notebook 07)</h2>' + "".join(blocks) + "</section>"


def other_runs_section(artifacts: Path, library: list[runs.RunFolder]) -> str:
    others = [(r, "GAN run") for r in library[1:]]
    others += [(r, "Diffusion run") for r in family_runs(artifacts / "diffusion")]
    others += [(r, "pix2pix run") for r in family_runs(artifacts / "pix2pix")]
    if not others:
        return ""
    return ('<section id="other-runs"><h2>Other runs</h2>'
            + "".join(run_block(run, artifacts, heading) for run, heading in others) + "</section>")


def notebooks_section(results: Sequence, artifacts: Path, quick: bool) -> str:
    """Status, wall time beside its budget, links; an overrun is flagged."""
    rows = []
    for r in results:
        badge = {"ok": "✅", "failed": "❌", "skipped": "⏭"}.get(r.status, r.status)
        detail = "" if r.status == "ok" else (
            f"cell {r.failed_cell}: {r.error}" if r.failed_cell is not None else r.error)
        budget = getattr(r, "budget_s", None)
        over = getattr(r, "over_budget", False)
        rows.append(
            f'<tr><td>{badge}</td><td>{html.escape(r.name)}</td>'
            f'<td><a href="notebooks/{r.name}.html">HTML</a> · <a href="notebooks/{r.name}.ipynb">ipynb</a></td>'
            f"<td>{r.seconds:.0f} s</td><td>{html.escape(getattr(r, 'preset', 'full'))}</td>"
            f"<td>{f'{budget} s' if budget else '—'}</td>"
            f'<td class="{"over" if over else ""}">{"over budget" if over else ""}</td>'
            f"<td>{html.escape(scrub(detail, artifacts))}</td></tr>")
    total = sum(r.seconds for r in results)
    budgets = [getattr(r, "budget_s", None) for r in results]
    total_budget = sum(b for b in budgets if b)
    lab = [r.name for r in results if getattr(r, "preset", "full") == "lab"]
    lab_note = (f" {len(lab)} notebook{'s' if len(lab) > 1 else ''} ran with the lab preset, lighter than "
                "their stored outputs (fewer samples, shorter training: see each notebook's parameters cell)."
                if lab else "")
    return ('<section id="notebooks"><h2>Notebooks</h2><p>Budgets are for the main job on a 2-core CPU '
            f"(this run's quick mode: {quick}). Total wall time {total:.0f} s; total budget {total_budget} s."
            f"{lab_note}</p>"
            "<table><tr><th></th><th>notebook</th><th>output</th><th>wall time</th><th>settings</th><th>budget</th>"
            "<th>overrun</th><th>problem</th></tr>" + "".join(rows) + "</table></section>")


def exports_section(artifacts: Path) -> str:
    parts = []
    for export in sorted(p for p in (artifacts / "synthetic").glob("*") if p.is_dir()):
        rel = export.relative_to(artifacts).as_posix()
        card = export / "data_card.json"
        info = fileio.read_json_object(card) if card.exists() else None
        facts = {}
        if info is not None:
            facts = {"images": info.get("images"), "classes": ", ".join(info.get("classes") or []),
                     "trained on": info.get("trained_on"), "synthetic": info.get("synthetic")}
        links = [f'<a href="{rel}/{name}">{label}</a>' for name, label in
                 (("DATA_CARD.md", "data card"), ("labels.csv", "labels.csv")) if (export / name).exists()]
        parts.append(f'<h3>Synthetic dataset: <a href="{rel}/">{html.escape(export.name)}</a></h3>'
                     + table({k: v for k, v in facts.items() if v not in (None, "")})
                     + f"<p>{' · '.join(links)}</p>" + evaluation_block(export, rel))
    return '<section id="exports"><h2>Synthetic exports</h2>' + "".join(parts) + "</section>" if parts else ""


STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.pics{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}figure{margin:0}
.side-by-side{display:flex;flex-direction:column;gap:.4em}.side-by-side img{image-rendering:pixelated}
.model{margin:0 0 1.5em}.over{color:#b00;font-weight:bold}figcaption{font-size:.9em;color:#444}"""


def write(artifacts: Path, results: Sequence, started: str, pretrained: Path | None = None, *,
          quick: bool) -> Path:
    """Write ``artifacts/index.html`` (and its strips under ``artifacts/front_page/``).

    ``quick``: whether the notebooks ran with quick settings (said on the page).
    """
    pretrained = config.pretrained_dir() if pretrained is None else pretrained
    library, demos = main_runs(artifacts)
    sections = [
        side_by_side_section(artifacts, find_models(artifacts, pretrained), results),
        main_run_section(library, artifacts),
        demo_section(demos, artifacts),
        other_runs_section(artifacts, library),
        notebooks_section(results, artifacts, quick),
        exports_section(artifacts),
    ]
    ok = sum(r.status == "ok" for r in results)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedGAN kit — run of {html.escape(started)}</title>
<style>{STYLE}</style></head>
<body><h1>MedGAN teaching kit — main run</h1>
<p>Started {html.escape(started)} · quick mode: {quick} · {ok}/{len(results)} notebooks ran cleanly.</p>
<p>Synthetic images are not patients: every number here is a screening aid, not a
clinical judgement. See notebook 05 for how to read them.</p>
{''.join(sections)}
</body></html>
"""
    return write_atomic(artifacts / "index.html", page.encode("utf-8"))
