"""privacy_scan opens zip, gzip, bz2 and xz (nested up to a depth) and never calls what it could not open clean."""

from __future__ import annotations

import bz2
import io
import lzma
import zipfile

from medgan_helpers import privacy_audit

NEEDLE = "Doe^Jane"
TEXT = b"report of patient Doe^Jane, MRN 00123456"


def _zip(name: str, blob: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, blob)
    return buffer.getvalue()


def _nested_zip(levels: int) -> bytes:
    blob = TEXT
    for level in range(levels):
        blob = _zip(f"level{level}.zip" if level else "report.txt", blob)
    return blob


def test_bz2_and_xz_content_is_searched(tmp_path):
    (tmp_path / "a.txt.bz2").write_bytes(bz2.compress(TEXT))
    (tmp_path / "b.txt.xz").write_bytes(lzma.compress(TEXT))
    scan = privacy_audit.privacy_scan([NEEDLE], folders=[tmp_path])
    assert any("a.txt.bz2" in place for place in scan.found), str(scan)
    assert any("b.txt.xz" in place for place in scan.found), str(scan)


def test_a_zip_nested_within_the_depth_is_searched(tmp_path):
    (tmp_path / "export.zip").write_bytes(_nested_zip(3))  # zip in zip in zip
    scan = privacy_audit.privacy_scan([NEEDLE], folders=[tmp_path])
    assert scan.found and not scan.clean, str(scan)


def test_a_zip_nested_past_the_depth_is_listed_not_searched(tmp_path):
    (tmp_path / "export.zip").write_bytes(_nested_zip(privacy_audit.ARCHIVE_DEPTH + 2))
    scan = privacy_audit.privacy_scan([NEEDLE], folders=[tmp_path])
    assert not scan.found  # the needle sits below the depth the scan opens ...
    assert scan.not_searched and not scan.clean  # ... so the scan must not say "clean"
    assert "NOT searched" in str(scan) and "nested more than" in str(scan)


def test_formats_it_cannot_open_are_not_searched_not_clean(tmp_path):
    (tmp_path / "scans.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(64))
    (tmp_path / "scans.rar").write_bytes(b"Rar!\x1a\x07\x00" + bytes(64))
    scan = privacy_audit.privacy_scan([NEEDLE], folders=[tmp_path])
    assert len(scan.not_searched) == 2 and not scan.clean, str(scan)
    assert "7z: this scan cannot open it" in str(scan)


def test_plain_files_and_a_clean_bz2_stay_clean(tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"nothing here")
    (tmp_path / "notes.txt.bz2").write_bytes(bz2.compress(b"nothing here either"))
    scan = privacy_audit.privacy_scan([NEEDLE], folders=[tmp_path])
    assert scan.clean, str(scan)
