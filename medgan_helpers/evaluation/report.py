"""The :class:`EvaluationReport` returned by :func:`medgan_helpers.evaluation.evaluate`.

It holds the numbers (a JSON-ready dict in ``report.results``) plus the arrays the
pictures need (kept out of the JSON), and renders them as a plain-text table,
an HTML table for Jupyter, matplotlib figures and one summary PNG.
"""

from __future__ import annotations

import html
import io
import math
from pathlib import Path

import numpy as np

from medgan_helpers.evaluation import realism_report

FIDELITY_ROWS = (
    ("fake_vs_train", "generated vs real train"),
    ("fake_vs_test", "generated vs real test"),
    ("floor_train_halves", "ref: train half vs half (noise floor)"),
    ("test_vs_train", "ref: real test vs real train"),
)
UTILITY_ROWS = (("tstr", "synthetic only (TSTR)"), ("trtr", "real only (TRTR)"), ("mixed", "real + synthetic"))


def ordinal(x: float) -> str:
    """1 -> '1st', 2 -> '2nd', 5 -> '5th', 11 -> '11th', 2.5 -> '2.5th'."""
    if float(x) != int(x):
        return f"{x:g}th"
    n = int(x)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def headline_numbers(results: dict) -> dict[str, str]:
    """The few numbers worth quoting (index page, data cards), each beside its reference.

    Works on ``report.results`` and on a loaded ``evaluation.json`` alike.
    Privacy comes first, then realism (a fresh CNN, spectrum, intensity), fidelity
    against its real-vs-real scale (with a plain warning when the feature space
    cannot separate the sets), diversity and utility.
    """
    out: dict[str, str] = {}
    mem = results.get("memorisation") or {}
    pct = mem.get("percentile", 1.0)
    for space in ("pixel", "feature"):
        m = mem.get(space)
        if m:
            test = m.get("possible_copies_fraction_test")
            out[f"possible copies ({space} space)"] = (
                f"{m['possible_copies_fraction'] * 100:.1f} % (about {pct:g} % expected by chance: closer "
                f"to a training image than {100 - pct:g} % of training images are to the rest"
                + (f"; with the test-split threshold {test * 100:.1f} %)" if test is not None else ")")
            )
    out.update(realism_report.headline_rows(results))
    fid = results.get("fidelity") or {}
    train, floor, test = (fid.get(k) or {} for k in ("fake_vs_train", "floor_train_halves", "test_vs_train"))
    if train.get("fd") is not None:
        out["FD to real train"] = (
            f"{_fmt(train.get('fd'), 2)} (noise floor {_fmt(floor.get('fd'), 2)}, "
            f"real test vs train {_fmt(test.get('fd'), 2)})"
        )
    blind = realism_report.blind_spots(results)
    if blind:
        out["feature space (FD, precision, recall)"] = (
            f"cannot separate generated from real: {', '.join(blind)} at the real-vs-real floor. "
            "A limit of this ruler (it sees slice level and outline, not texture or contrast), "
            "not proof of realism: read the realism rows.")
    for key in ("precision", "recall", "coverage"):
        if train.get(key) is not None:
            out[f"{key} vs real train"] = f"{_fmt(train.get(key))} (real test: {_fmt(test.get(key))})"
    div = results.get("diversity") or {}
    if div.get("fake_mean") is not None:
        out["MS-SSIM among samples (lower = more varied)"] = (
            f"{div['fake_mean']:.3f} (among real images: {div['real_mean']:.3f})"
        )
    util = results.get("utility") or {}
    tstr, trtr = util.get("tstr"), util.get("trtr")
    if tstr and trtr and not util.get("skipped"):
        out["accuracy: train on synthetic, test on real (TSTR)"] = (
            f"{_pm(tstr, 'accuracy')} (train on real, TRTR: {_pm(trtr, 'accuracy')})"
        )
    for i, note in enumerate(results.get("notes") or [], 1):
        out[f"note {i}"] = note
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _pm(stats: dict | None, key: str, scale: float = 1.0, digits: int = 3) -> str:
    if not stats or stats.get(key) is None:
        return "—"
    return f"{stats[key] * scale:.{digits}f} ± {stats[key + '_std'] * scale:.{digits}f}"


class EvaluationReport:
    """Fidelity, diversity, memorisation and utility of one set of generated images.

    - ``results``: nested dict of every number (what :meth:`to_json` writes)
    - :meth:`table` → plain text; in Jupyter the report renders as HTML
    - :meth:`plots` → dict of matplotlib figures; :meth:`save_summary_png` → one PNG
    """

    def __init__(self, results: dict, plot_data: dict):
        self.results = results
        self._plot = plot_data

    # ------------------------------------------------------------------ shortcuts
    def __getitem__(self, key: str):
        return self.results[key]

    @property
    def headline(self) -> dict[str, str]:
        """The few numbers worth quoting, each beside its reference (see :func:`headline_numbers`)."""
        return headline_numbers(self.results)

    @property
    def fidelity(self) -> dict:
        """Feature-space metrics per comparison (generated vs train/test and the references)."""
        return self.results["fidelity"]

    @property
    def diversity(self) -> dict:
        """MS-SSIM among generated and among real images (lower = more varied)."""
        return self.results["diversity"]

    @property
    def memorisation(self) -> dict:
        """Nearest-training-image distances and the "possible copies" fractions."""
        return self.results["memorisation"]

    @property
    def utility(self) -> dict | None:
        """TSTR / TRTR / mixed classifier scores on the real test split (None when skipped)."""
        return self.results.get("utility")

    @property
    def realism(self) -> dict | None:
        """Two-sample CNN accuracy, high-frequency ratio and intensity distance, with floors."""
        return self.results.get("realism")

    @property
    def nearest_distances(self) -> dict[str, np.ndarray]:
        """Nearest-train distances of the generated images (``fake_*``), of real test
        images (``test_*``) and of train images to the rest of train, leave-one-out
        (``train_*``, the copy threshold's calibration), in ``pixel`` and ``feature`` space."""
        return {
            f"{who}_{space}": self._plot[f"nn_{who}_{space}"]
            for who in ("fake", "test", "train")
            for space in ("pixel", "feature")
            if f"nn_{who}_{space}" in self._plot
        }

    # ------------------------------------------------------------------ text
    def table(self) -> str:
        """The whole report as a plain-text table (no pandas needed)."""
        r = self.results
        m = r["meta"]
        lines = [
            f"MedGAN evaluation — {m['dataset']} · {m['image_size']} px · "
            f"{m['n_fake']} generated vs {m['n_train']} real train / {m['n_test']} real test",
            f"Feature space: {m['feature_extractor']}",
            "  (numbers are on this kit's own scale: not comparable with published FID/KID values)",
            "",
            "Fidelity (feature space)                FD ↓    KID×1000 ↓   precision  recall  density  coverage",
        ]
        for key, label in FIDELITY_ROWS:
            f = r["fidelity"].get(key)
            if f is None:
                continue
            kid = f"{f['kid'] * 1000:7.2f}±{f['kid_std'] * 1000:<5.2f}" if f.get("kid") is not None else "      —     "
            lines.append(
                f"  {label:<37} {_fmt(f.get('fd'), 2):>7}  {kid:>13}  {_fmt(f.get('precision')):>9}  "
                f"{_fmt(f.get('recall')):>6}  {_fmt(f.get('density')):>7}  {_fmt(f.get('coverage')):>8}"
            )
        blind = realism_report.blind_spot_note(r)
        if blind:
            lines.append("  ⚠ " + blind)
        d = r["diversity"]
        lines += ["", "Diversity: MS-SSIM between random pairs (lower = more varied; 1 = identical)"]
        lines.append(
            f"  generated {d['fake_mean']:.3f} ± {d['fake_std']:.3f}    real train {d['real_mean']:.3f} ± {d['real_std']:.3f}"
        )
        for name, c in (d.get("per_class") or {}).items():
            lines.append(f"    class {name[:28]:<28} generated {_fmt(c['fake_mean'])}   real {_fmt(c['real_mean'])}")
        mem = r["memorisation"]
        pct = mem.get("percentile", 1.0)
        lines += [
            "",
            "Memorisation: distance from each generated image to its nearest real train image",
            f"  threshold = {ordinal(pct)} percentile of train images' distances to the rest of train "
            f"(so ~{pct:g} % are flagged by chance); in brackets: with the shifted test split's threshold",
            "  space     median (generated)  median (train→rest)  median (test)  threshold   possible copies",
        ]
        for space in ("pixel", "feature"):
            s = mem[space]
            lines.append(
                f"  {space:<8}  {s['median_fake_to_train']:>18.4f}  {s.get('median_train_to_rest', float('nan')):>19.4f}"
                f"  {s['median_test_to_train']:>13.4f}  {s['threshold']:>9.4f}   "
                f"{s['possible_copies_fraction'] * 100:>5.1f} % "
                f"({s.get('possible_copies_fraction_test', float('nan')) * 100:.1f} %)"
            )
        u = r.get("utility")
        lines += ["", "Utility: small classifier tested on the real test split"]
        if u is None or u.get("skipped"):
            lines.append(f"  skipped — {(u or {}).get('skipped', 'no labels for the generated images')}")
        else:
            lines.append(f"  mean ± std over {len(u['seeds'])} seeds, {u['epochs']} epochs each")
            lines.append("  trained on               accuracy         balanced acc     macro AUC")
            for key, label in UTILITY_ROWS:
                s = u.get(key)
                if s is None:
                    continue
                lines.append(
                    f"  {label:<24} {_pm(s, 'accuracy'):<16} {_pm(s, 'balanced_accuracy'):<16} {_pm(s, 'macro_auc')}"
                )
        lines += realism_report.table_lines(r.get("realism"))
        lines += ["", "Read: FD/KID lower is better, but compare them with the two reference rows, not with zero."]
        for note in r.get("notes") or []:
            lines.append("Note: " + note)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        m = self.results["meta"]
        fd = self.results["fidelity"]["fake_vs_train"].get("fd")
        return f"<EvaluationReport {m['dataset']} {m['image_size']}px n_fake={m['n_fake']} FD(train)={_fmt(fd, 2)}>"

    def _repr_html_(self) -> str:
        return (
            "<pre style='font-size:12px; line-height:1.3'>" + html.escape(self.table()) + "</pre>"
        )

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        """A deep copy of the results (JSON-ready)."""
        from medgan_helpers.fileio import json_ready

        return json_ready(self.results)

    def to_json(self, path: str | Path) -> Path:
        """Write ``results`` as standard JSON (NaN -> null) to ``path``, atomically; returns the path."""
        from medgan_helpers.fileio import write_json

        return write_json(path, self.results)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``evaluation.json`` and ``evaluation.png`` into ``folder``; returns both paths."""
        folder = Path(folder)
        paths = {"json": folder / "evaluation.json", "png": folder / "evaluation.png"}
        self.results["files"] = {k: v.name for k, v in paths.items()}  # names only: no machine paths
        self.to_json(paths["json"])
        self.save_summary_png(paths["png"])
        return paths

    # ------------------------------------------------------------------ pictures
    def _draw_scatter(self, ax) -> None:
        p = self._plot
        ax.scatter(*p["pca_train"].T, s=6, alpha=0.35, label="real train", c="tab:blue")
        ax.scatter(*p["pca_test"].T, s=6, alpha=0.35, label="real test", c="tab:green")
        ax.scatter(*p["pca_fake"].T, s=6, alpha=0.35, label="generated", c="tab:red")
        ax.set_title("Feature space (PCA of classifier features)")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(markerscale=3, fontsize=8)

    def _draw_nn_hist(self, ax, space: str = "pixel") -> None:
        p = self._plot
        fake, test = p[f"nn_fake_{space}"], p[f"nn_test_{space}"]
        train = p.get(f"nn_train_{space}")
        top = max(fake.max(), test.max(), train.max() if train is not None else 0.0)
        bins = np.linspace(0, top * 1.05 + 1e-9, 40)
        if train is not None:
            ax.hist(train, bins=bins, alpha=0.5, label="real train → rest of train", color="tab:blue")
        ax.hist(test, bins=bins, alpha=0.5, label="real test → train", color="tab:green")
        ax.hist(fake, bins=bins, alpha=0.6, label="generated → train", color="tab:red")
        mem = self.results["memorisation"]
        ax.axvline(mem[space]["threshold"], color="k", ls="--", lw=1,
                   label=f"copy threshold ({ordinal(mem.get('percentile', 1))} pct of train → rest)")
        ax.set_title(f"Distance to nearest train image ({space} space)")
        ax.set_xlabel("distance")
        ax.legend(fontsize=8)

    def _pairs_montage(self, n: int = 8, per_row: int = 4) -> np.ndarray:
        """Pairs as columns (generated on top, nearest train below), ``per_row`` pairs per row."""
        p = self._plot
        fake, train = p["pair_fake"][:n], p["pair_train"][:n]
        h, w, c = fake.shape[1:]
        pad = max(2, h // 16)
        rows = []
        for start in range(0, len(fake), per_row):
            blocks = []
            for f, t in zip(fake[start : start + per_row], train[start : start + per_row]):
                blocks.append(np.concatenate([f, np.zeros((pad // 2, w, c), f.dtype), t]))
                blocks.append(np.ones((blocks[-1].shape[0], pad, c), f.dtype))
            while len(blocks) < 2 * per_row:  # pad an unfinished row
                blocks.append(np.ones((2 * h + pad // 2, w if len(blocks) % 2 == 0 else pad, c), fake.dtype))
            rows.append(np.concatenate(blocks, axis=1))
            rows.append(np.ones((pad, rows[-1].shape[1], c), fake.dtype))
        return (np.concatenate(rows[:-1]) + 1.0) / 2.0

    def _draw_pairs(self, ax, n: int = 8) -> None:
        img = self._pairs_montage(n)
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        d = self._plot["pair_distance"][:n]
        ax.set_title("Closest pairs: generated (upper) above its nearest train image (lower)\n"
                     f"pixel distances {', '.join(f'{v:.2f}' for v in d[:4])}…", fontsize=9)

    def _draw_diversity(self, ax) -> None:
        p = self._plot
        bins = np.linspace(0, 1, 41)
        ax.hist(p["ms_ssim_real"], bins=bins, alpha=0.6, label="real pairs", color="tab:blue")
        ax.hist(p["ms_ssim_fake"], bins=bins, alpha=0.6, label="generated pairs", color="tab:red")
        ax.set_title("Diversity: MS-SSIM of random pairs (lower = more varied)")
        ax.set_xlabel("MS-SSIM")
        ax.legend(fontsize=8)

    def _draw_utility(self, ax) -> None:
        u = self.results.get("utility")
        if not u or u.get("skipped"):
            ax.text(0.5, 0.5, "utility skipped:\n" + str((u or {}).get("skipped", "no labels")),
                    ha="center", va="center", wrap=True, fontsize=9)
            ax.set_axis_off()
            return
        metrics = ("accuracy", "balanced_accuracy", "macro_auc")
        rows = [(k, lbl) for k, lbl in UTILITY_ROWS if u.get(k)]
        width = 0.8 / len(rows)
        x = np.arange(len(metrics))
        for i, (key, label) in enumerate(rows):
            vals = [u[key][m] for m in metrics]
            errs = [u[key][m + "_std"] for m in metrics]
            ax.bar(x + i * width, vals, width, yerr=errs, capsize=3, label=label)
        ax.set_xticks(x + width * (len(rows) - 1) / 2, ["accuracy", "balanced acc.", "macro AUC"])
        ax.set_ylim(0, 1.05)
        ax.set_title("Utility on the real test split (mean ± std over seeds)")
        ax.legend(fontsize=8, loc="lower right")

    def _draw_fd(self, ax) -> None:
        f = self.results["fidelity"]
        rows = [(k, lbl) for k, lbl in FIDELITY_ROWS if f.get(k) and f[k].get("fd") is not None]
        colors = {"fake_vs_train": "tab:red", "fake_vs_test": "salmon",
                  "floor_train_halves": "grey", "test_vs_train": "tab:green"}
        ax.barh([lbl for _, lbl in rows][::-1], [f[k]["fd"] for k, _ in rows][::-1],
                color=[colors[k] for k, _ in rows][::-1])
        ax.set_title("Fréchet distance with its two reference values")
        ax.set_xlabel("FD (kit feature space, lower = closer)")
        ax.tick_params(axis="y", labelsize=8)

    PLOT_NAMES = ("feature_space", "fidelity", "nearest_neighbours", "diversity", "utility",
                  "spectrum", "intensity", "most_fake")
    #: the pictures of the realism group (absent when it was switched off)
    REALISM_PLOTS = {"spectrum": realism_report.draw_spectrum, "intensity": realism_report.draw_intensity,
                     "most_fake": realism_report.draw_most_fake}

    def _has_realism(self) -> bool:
        return "spectrum_freq" in self._plot

    def plot(self, name: str):
        """One matplotlib figure by name (see ``PLOT_NAMES``)."""
        import matplotlib.pyplot as plt

        if name == "feature_space":
            fig, ax = plt.subplots(figsize=(5.5, 4.5))
            self._draw_scatter(ax)
        elif name == "fidelity":
            fig, ax = plt.subplots(figsize=(6.5, 3.2))
            self._draw_fd(ax)
        elif name == "nearest_neighbours":
            fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1.1]})
            self._draw_nn_hist(axes[0])
            self._draw_pairs(axes[1])
        elif name == "diversity":
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            self._draw_diversity(ax)
        elif name == "utility":
            fig, ax = plt.subplots(figsize=(6, 3.8))
            self._draw_utility(ax)
        elif name in self.REALISM_PLOTS:
            fig, ax = plt.subplots(figsize=(12, 3.6) if name == "most_fake" else (5.5, 3.8))
            if self._has_realism():
                self.REALISM_PLOTS[name](ax, self._plot)
            else:
                realism_report.draw_skipped(ax, self.results.get("realism"))
        else:
            raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(self.PLOT_NAMES)}.")
        fig.tight_layout()
        return fig

    def plots(self) -> dict:
        """All figures: ``feature_space``, ``fidelity``, ``nearest_neighbours``, ``diversity``, ``utility``,
        and the realism pictures ``spectrum``, ``intensity``, ``most_fake``."""
        return {name: self.plot(name) for name in self.PLOT_NAMES}

    def save_summary_png(self, path: str | Path, dpi: int = 110) -> Path:
        """One PNG with every picture of the report (written without showing it)."""
        from matplotlib.figure import Figure

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = Figure(figsize=(17, 15))
        grid = fig.add_gridspec(3, 3)
        self._draw_scatter(fig.add_subplot(grid[0, 0]))
        self._draw_fd(fig.add_subplot(grid[0, 1]))
        self._draw_nn_hist(fig.add_subplot(grid[0, 2]))
        self._draw_pairs(fig.add_subplot(grid[1, 0]))
        self._draw_diversity(fig.add_subplot(grid[1, 1]))
        self._draw_utility(fig.add_subplot(grid[1, 2]))
        for column, (name, draw) in enumerate(self.REALISM_PLOTS.items()):
            ax = fig.add_subplot(grid[2, column])
            if self._has_realism():
                draw(ax, self._plot, **({"per_row": 4} if name == "most_fake" else {}))
            else:
                realism_report.draw_skipped(ax, self.results.get("realism"))
        m = self.results["meta"]
        fig.suptitle(f"MedGAN evaluation — {m['dataset']} {m['image_size']} px, {m['n_fake']} generated images "
                     f"(kit feature space, not comparable with published FID)")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
        from medgan_helpers.pictures import write_atomic

        return write_atomic(path, buffer.getvalue())
