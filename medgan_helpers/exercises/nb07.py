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


def check_skipped(n_skipped: int, n_duplicates: int, report) -> bool:
    """Exercise 2: how many files did the loader skip, and how many as duplicates?"""
    total = len(report.skipped)
    duplicates = sum("duplicate" in reason for _, reason in report.skipped)
    ok = int(n_skipped) == total and int(n_duplicates) == duplicates
    return verdict(
        ok,
        f"{total} files were skipped, {duplicates} of them as duplicates.",
        "count the (file, reason) pairs in report.skipped, and those whose reason "
        "mentions 'duplicate'.",
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
