"""Checks for notebook 07 (your own data)."""

from __future__ import annotations

from collections.abc import Mapping

from medgan_helpers.exercises._verdict import verdict


def check_min_images(min_images: int, class_counts: Mapping[str, int], drop: str) -> bool:
    """Exercise 1: a MIN_IMAGES_PER_CLASS that drops class ``drop`` and keeps all others."""
    kept = [name for name, n in class_counts.items() if n >= min_images]
    ok = drop not in kept and len(kept) == len(class_counts) - 1
    return verdict(
        ok,
        f"with {min_images} only {drop!r} is dropped; {len(kept)} classes remain.",
        f"the counts are {dict(class_counts)}; pick a value above {class_counts.get(drop)} "
        "but not above the next-smallest class.",
    )


def check_skipped(answer: int, reports) -> bool:
    """Exercise 2: how many items did the loader skip over all splits?"""
    total = sum(len(r.skipped) for r in reports)
    return verdict(
        int(answer) == total,
        f"{total} items were skipped (print each report to see why).",
        "add up len(report.skipped) over the train, val and test reports.",
    )


def check_privacy_scan(scan, export_folder) -> bool:
    """Exercise 3: scan the export for the patient ID as well as the name — and find nothing."""
    from medgan_helpers import demo

    wanted = {demo.DEMO_PATIENT_NAME, demo.DEMO_PATIENT_ID}
    searched_export = any(str(export_folder) in place for place in scan.searched)
    ok = wanted <= set(scan.needles) and searched_export and scan.clean
    return verdict(
        ok,
        "neither the name nor the ID of the demo patient appears in the export.",
        "call own_data.privacy_scan([DEMO_PATIENT_NAME, DEMO_PATIENT_ID], folders=[export_folder]).",
    )
