"""How the realism group (``results["realism"]``) is told: table lines, headline rows, pictures,
and the honest reading of a feature space that cannot separate the two sets.

Used by :mod:`medgan_helpers.evaluation.report` and ``suite.reading_notes``; the
numbers themselves come from :mod:`medgan_helpers.evaluation.realism`.
"""

from __future__ import annotations

import numpy as np

#: Precision or recall within this of the real-vs-real floor counts as "at the floor".
PR_TOLERANCE = 0.02


def _ok(realism: dict | None) -> bool:
    return bool(realism) and not realism.get("skipped") and "classifier" in realism


def blind_spots(results: dict) -> list[str]:
    """The feature-space numbers that sit at their real-vs-real floor, when together they say
    that the feature space cannot separate the generated images from real ones.

    That is the case when FD is at or below its noise floor, or when precision *and*
    recall are both as high as two real halves score (within :data:`PR_TOLERANCE`):
    each cloud then lies inside the other. Recall alone at its floor only says that
    the generated images cover the real ones, so it is not enough. Returns ``[]``
    when the space does separate them.
    """
    fid = results.get("fidelity") or {}
    fake, floor = fid.get("fake_vs_train") or {}, fid.get("floor_train_halves") or {}
    if not fake or not floor:
        return []
    at_floor = {}
    if fake.get("fd") is not None and floor.get("fd") is not None and fake["fd"] <= floor["fd"]:
        at_floor["fd"] = f"FD {fake['fd']:.2f} (floor {floor['fd']:.2f})"
    for key in ("precision", "recall"):
        if fake.get(key) is not None and floor.get(key) is not None and fake[key] >= floor[key] - PR_TOLERANCE:
            at_floor[key] = f"{key} {fake[key]:.2f} (floor {floor[key]:.2f})"
    if "fd" in at_floor or {"precision", "recall"} <= set(at_floor):
        return list(at_floor.values())
    return []


def realism_summary(realism: dict | None) -> str:
    """One sentence with the three realism numbers and their floors ('' when not measured)."""
    if not _ok(realism):
        return ""
    c, s, i = realism["classifier"], realism["spectrum"], realism["intensity"]
    return (f"a fresh CNN tells generated from real with held-out accuracy {c['accuracy']:.2f} ± "
            f"{c['accuracy_std']:.2f} (real vs real: {c['floor']:.2f}); high-frequency energy "
            f"{s['hf_ratio']:.2f}× real (real halves {s['hf_ratio_floor']:.2f}×); intensity distance inside "
            f"the body {i['quantile_distance']:.3f} (real halves {i['quantile_distance_floor']:.3f})")


def blind_spot_note(results: dict) -> str | None:
    """The honest sentence for a feature space that cannot separate the sets, or None."""
    found = blind_spots(results)
    if not found:
        return None
    summary = realism_summary(results.get("realism"))
    pointer = (f"Look at the realism measures instead: {summary}." if summary else
               "Measure realism where the eye looks (evaluate(..., realism=True): a classifier "
               "two-sample test, the power spectrum, the intensities inside the body).")
    at_floor = "is at its" if len(found) == 1 else "are at their"
    return (f"In the feature space, {', '.join(found)} {at_floor} real-vs-real floor: this feature space (a classifier "
            "trained to name the classes, which sees slice level and outline, not texture or contrast) "
            "cannot separate the generated images from real ones. That is a limit of the ruler, not "
            f"proof that the images are realistic. {pointer}")


def headline_rows(results: dict) -> dict[str, str]:
    """The realism rows of the headline, each beside its real-vs-real floor."""
    realism = results.get("realism")
    if not _ok(realism):
        return {}
    c, s, i = realism["classifier"], realism["spectrum"], realism["intensity"]
    ratio = i["quantile_distance"] / max(i["quantile_distance_floor"], 1e-12)
    return {
        "realism: can a fresh CNN tell generated from real?": (
            f"held-out accuracy {c['accuracy']:.3f} ± {c['accuracy_std']:.3f} (two real halves: {c['floor']:.3f} "
            f"± {c['floor_std']:.3f}; 0.5 = cannot tell; {len(c['seeds'])} seeds)"),
        "fine detail: high-frequency energy, generated / real": (
            f"{s['hf_ratio']:.2f} (two real halves: {s['hf_ratio_floor']:.2f}; above 1 noisier, below 1 smoother)"),
        "intensity inside the body: quantile distance": (
            f"{i['quantile_distance']:.3f} (two real halves: {i['quantile_distance_floor']:.3f}; {ratio:.1f}× the floor)"),
    }


def table_lines(realism: dict | None) -> list[str]:
    """The realism section of the plain-text report."""
    lines = ["", "Realism where the eye looks (texture, fine detail, contrast), each against two real halves"]
    if not _ok(realism):
        return lines + [f"  skipped — {(realism or {}).get('skipped', 'not measured')}"]
    c, s, i = realism["classifier"], realism["spectrum"], realism["intensity"]
    return lines + [
        f"  two-sample CNN, held-out accuracy (0.5 = cannot tell)   generated vs real {c['accuracy']:.3f} ± "
        f"{c['accuracy_std']:.3f}   real vs real {c['floor']:.3f} ± {c['floor_std']:.3f}",
        f"    ({c['n_per_set']} images per set at {c['image_size']} px, half to train, half to score; "
        f"{len(c['seeds'])} seeds, {c['epochs']} epochs)",
        f"  high-frequency energy above {s['cutoff_cycles_per_pixel']} cycles/px, ÷ real        generated "
        f"{s['hf_ratio']:.2f}   real half ÷ half {s['hf_ratio_floor']:.2f}",
        f"  intensity inside the body, mean |Δ| of 99 percentiles    generated {i['quantile_distance']:.4f}"
        f"   real half vs half {i['quantile_distance_floor']:.4f}",
        f"    (body = pixels brighter than the background level {i['background_level']:.2f} + {i['margin']})",
    ]


# ---------------------------------------------------------------------------- pictures
def draw_spectrum(ax, plot: dict) -> None:
    """Radially averaged power spectrum, generated vs real (log scale, DC left out)."""
    f = plot["spectrum_freq"][1:]
    ax.semilogy(f, plot["spectrum_real"][1:], label="real train", color="tab:blue")
    ax.semilogy(f, plot["spectrum_fake"][1:], label="generated", color="tab:red")
    ax.axvline(0.25, color="k", ls="--", lw=1, label="half Nyquist (high-frequency band →)")
    ax.set_xlabel("spatial frequency (cycles per pixel)")
    ax.set_ylabel("power")
    ax.set_title("Power spectrum, averaged over rings")
    ax.legend(fontsize=8)


def draw_intensity(ax, plot: dict) -> None:
    """Histogram of intensities inside the body, generated vs real."""
    edges = plot["intensity_edges"]
    centres = (edges[:-1] + edges[1:]) / 2
    ax.fill_between(centres, plot["intensity_real"], step="mid", alpha=0.5, color="tab:blue", label="real train")
    ax.step(centres, plot["intensity_fake"], where="mid", color="tab:red", label="generated")
    ax.set_xlabel("intensity inside the body ([-1, 1] scale)")
    ax.set_ylabel("density")
    ax.set_title("Intensities inside the body")
    ax.legend(fontsize=8)


def most_fake_montage(plot: dict, pad: int = 2, per_row: int = 8) -> np.ndarray:
    """Most fake-looking generated images above real train images of the same class, same size,
    in [0, 1]: ``per_row`` pairs per row (a generated row, then its real row)."""
    fake, real = plot["most_fake"], plot["most_fake_real"]
    h, w, c = fake.shape[1:]
    gap, rows = np.ones((h, pad, c), fake.dtype), []
    for start in range(0, len(fake), per_row):
        for images in (fake[start : start + per_row], real[start : start + per_row]):
            row = [b for img in images for b in (img, gap)][:-1]
            width = per_row * (w + pad) - pad  # an unfinished last row is padded to full width
            line = np.concatenate(row, axis=1)
            rows.append(np.concatenate([line, np.ones((h, width - line.shape[1], c), fake.dtype)], axis=1))
            rows.append(np.ones((pad, width, c), fake.dtype))
    return (np.concatenate(rows[:-1]) + 1.0) / 2.0


def draw_most_fake(ax, plot: dict, per_row: int = 8) -> None:
    """The most fake-looking generated images (upper rows) and real images of their class (lower)."""
    img = most_fake_montage(plot, per_row=per_row)
    ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    p = plot["most_fake_p"]
    ax.set_title(f"Most fake-looking generated (p(fake) {p.min():.2f}–{p.max():.2f}),\n"
                 "each above a real image of its class", fontsize=9)


def draw_skipped(ax, realism: dict | None) -> None:
    ax.text(0.5, 0.5, "realism skipped:\n" + str((realism or {}).get("skipped", "not measured")),
            ha="center", va="center", fontsize=9)
    ax.set_axis_off()
