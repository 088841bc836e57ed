"""Notebook 07's exercise checks accept right answers and reject wrong ones."""

from __future__ import annotations

from medgan_helpers import data, demo, own_data
from medgan_helpers.exercises import nb07


def test_min_images():
    counts = {"a": 100, "b": 40, "c": 2}
    assert nb07.check_min_images(10, counts, drop="c")
    assert not nb07.check_min_images(2, counts, drop="c")
    assert not nb07.check_min_images(50, counts, drop="c")


def test_skipped():
    report = data.LoadReport("x", "train")
    report.skip("a.png", "constant image")
    report.skip("b.png", "duplicate of a.png")
    report.skip("c.dcm", "truncated")
    assert nb07.check_skipped(3, 1, report)
    assert not nb07.check_skipped(3, 0, report)
    assert not nb07.check_skipped(2, 1, report)


def test_privacy_scan(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label\n")
    needles = [demo.DEMO_PATIENT_NAME, demo.DEMO_PATIENT_ID]
    assert nb07.check_privacy_scan(own_data.privacy_scan(needles, folders=[tmp_path]), tmp_path)
    only_name = own_data.privacy_scan([demo.DEMO_PATIENT_NAME], folders=[tmp_path])
    assert not nb07.check_privacy_scan(only_name, tmp_path)
    (tmp_path / "leak.txt").write_text(demo.DEMO_PATIENT_ID)
    assert not nb07.check_privacy_scan(own_data.privacy_scan(needles, folders=[tmp_path]), tmp_path)
