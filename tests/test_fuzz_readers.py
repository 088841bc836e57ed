"""Fuzzing the readers of ``folder:`` and the privacy scan with Hypothesis.

Every reader the folder loader uses (PNG, JPEG, TIFF, BMP via Pillow; DICOM via
pydicom, with and without the ``.dcm`` extension; NIfTI via nibabel, ``.nii`` and
``.nii.gz``) gets random bytes and mutations of small valid files made here:
flipped bits, overwritten bytes, header fields set to extreme integers, cuts,
insertions, repeats (PNG chunk checksums recomputed half the time, so a changed
header gets past the CRC check; NIfTI mutated before it is gzipped). The privacy
scan gets the same mutations of zip, gzip, tar and bz2 archives and images.

Properties, for every input:

- loading a folder that holds the file ends in loaded images or in ``DataError``
  with named skip reasons — never another exception;
- within :data:`TIME_BOUND_S` and the readers' documented memory bound
  (``readers.memory_bound`` of the largest allowed page: peak resident memory
  growth, measured with the kernel's high-water mark on Linux);
- skip reasons never show the file's name or the folder path;
- the privacy scan never raises, accounts for the file (searched or listed as
  not readable), and finds a planted string wherever it is in the file's own bytes.

Here with few examples, derandomised (the same inputs on every run, no database
written, Hypothesis' cache in the temp folder); ``benchmarks/fuzz_readers.py`` runs many more, at random.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import io
import os
import re
import shutil
import struct
import sys
import tarfile
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from medgan_helpers import own_data
from medgan_helpers.data import folder as folder_loader
from medgan_helpers.data import privacy, readers
from medgan_helpers.data.imageset import DataError

# Hypothesis keeps a cache (constants of the source) even with database=None: never in the repository
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "medgan-hypothesis")

#: Wall-clock bound on loading one fuzzed file (or scanning it), generous for a loaded CI machine.
TIME_BOUND_S = 10.0
#: The readers' stated bound: one page of the largest allowed size, plus the decoders' buffers.
MEMORY_BOUND = readers.memory_bound(readers.MAX_PAGE_PIXELS)
#: The file's name stem: a skip reason must never show it.
STEM = "fuzzcase"
#: The string planted in the privacy-scan seeds.
NEEDLE = "Doe^Fuzzname"
#: Integers written over header fields: sizes, counts and offsets at their edges.
INTERESTING = (0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 6000, 30000, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)

# --------------------------------------------------------------------------- seed files (valid, small)


def _image(size: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    return (40 + 5 * xx + 100 * ((yy - size / 2) ** 2 + (xx - size / 3) ** 2 < size) + rng.integers(0, 9, (size, size)))


def _pillow(arrays, fmt: str, **kwargs) -> bytes:
    from PIL import Image

    frames = [Image.fromarray(a) for a in arrays]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=len(frames) > 1, append_images=frames[1:], **kwargs)
    return buffer.getvalue()


def _grey(size=24, seed=0):
    return _image(size, seed).astype(np.uint8)


def _rgb(size=24):
    g = _grey(size)
    return np.stack([g, 255 - g, g // 2], axis=-1)


@functools.cache
def raster_seeds() -> dict[str, list[bytes]]:
    wide = (_image(16, 1) * 200).astype(np.uint16)
    return {
        "png": [_pillow([_grey()], "PNG"), _pillow([_rgb()], "PNG"), _pillow([wide], "PNG")],
        "jpeg": [_pillow([_grey()], "JPEG", quality=80), _pillow([_rgb(16)], "JPEG")],
        "tiff": [_pillow([_grey(), _grey(24, 2)], "TIFF"), _pillow([wide], "TIFF", compression="tiff_deflate")],
        "bmp": [_pillow([_rgb(12)], "BMP"), _pillow([_grey(12)], "BMP")],
    }


@functools.cache
def dicom_seeds() -> list[bytes]:
    """A small CT made here (16-bit, rescale, window, 2 frames) and pydicom's small real test files."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.Modality = NEEDLE, "PID-424242", "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    frames = np.stack([_image(16, 3), _image(16, 4)]).astype(np.uint16) * 10
    ds.Rows, ds.Columns, ds.NumberOfFrames = 16, 16, 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = frames.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    real = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "SC_rgb_rle.dcm", "rtdose.dcm",
            "SC_rgb_jpeg_dcmtk.dcm", "JPEG2000.dcm"]
    return [buffer.getvalue()] + [Path(get_testdata_file(name)).read_bytes() for name in real]


@functools.cache
def nifti_seeds() -> list[bytes]:
    """Raw ``.nii`` bytes: a 3-D float volume and a 4-D int16 one (gzipped for ``.nii.gz`` after mutation)."""
    import nibabel as nib

    volume = np.stack([_image(12, k) for k in range(4)], axis=-1).astype(np.float32)
    four = np.stack([volume, volume[::-1]], axis=-1).astype(np.int16)
    return [nib.Nifti1Image(volume, np.diag([1.0, 1.2, 2.0, 1.0])).to_bytes(),
            nib.Nifti1Image(four, np.eye(4)).to_bytes()]


@functools.cache
def archive_seeds() -> dict[str, list[bytes]]:
    """Archives and files that hold the needle, for the privacy scan."""
    text = f"report for {NEEDLE}, seen 2026-01-02\n".encode() * 3
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("notes.txt", text)
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/notes.txt", text)
        z.writestr("nested.zip", inner.getvalue())
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w") as t:
        info = tarfile.TarInfo("notes.txt")
        info.size = len(text)
        t.addfile(info, io.BytesIO(text))
    return {
        "zip": [outer.getvalue()],
        "gz": [gzip.compress(text)],
        "tar": [tarred.getvalue()],
        "tar.gz": [gzip.compress(tarred.getvalue())],
        "bz2": [bz2.compress(text)],
        "png": raster_seeds()["png"][:1],
        "dcm": dicom_seeds()[:1],
    }


# --------------------------------------------------------------------------- mutations


def fix_png_crcs(blob: bytes) -> bytes:
    """Recompute every PNG chunk's CRC (so a mutated header is parsed, not refused by its checksum)."""
    if not blob.startswith(b"\x89PNG\r\n\x1a\n"):
        return blob
    out, pos = bytearray(blob), 8
    while pos + 12 <= len(out):
        length = struct.unpack(">I", out[pos : pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(out[pos + 4 : end]) & 0xFFFFFFFF)
        pos = end + 4
    return bytes(out)


@st.composite
def mutated(draw, seeds: list[bytes], header: int = 1024) -> bytes:
    """One seed with 1-6 mutations (half of them in the first ``header`` bytes), or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    blob = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        n = len(blob)
        if n == 0:
            blob += draw(st.binary(min_size=1, max_size=64))
            continue
        top = min(n, header) if draw(st.booleans()) else n
        pos = draw(st.integers(0, top - 1))
        op = draw(st.sampled_from(["flip", "byte", "int", "cut", "insert", "delete", "repeat"]))
        if op == "flip":
            blob[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            blob[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
        elif op == "int":
            fmt = draw(st.sampled_from(["<H", ">H", "<I", ">I"]))
            value = draw(st.sampled_from(INTERESTING)) & (0xFFFF if fmt.endswith("H") else 0xFFFFFFFF)
            packed = struct.pack(fmt, value)
            blob[pos : pos + len(packed)] = packed
        elif op == "cut":
            del blob[pos:]
        elif op == "insert":
            blob[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del blob[pos : pos + draw(st.integers(1, 64))]
        else:
            chunk = bytes(blob[pos : pos + draw(st.integers(1, 256))])
            blob[pos:pos] = chunk * draw(st.integers(1, 8))
    return bytes(blob)


@dataclass(frozen=True)
class Case:
    """One reader (or scan) input kind: the file name and how its bytes are made."""

    name: str
    filename: str
    seeds: Callable[[], list[bytes]] = field(repr=False)
    post: str = ""  # "png-crc": recompute PNG CRCs half the time; "gzip": gzip the mutated bytes

    def strategy(self) -> st.SearchStrategy[bytes]:
        blobs = mutated(self.seeds())
        if self.post == "png-crc":
            return st.tuples(blobs, st.booleans()).map(lambda b: fix_png_crcs(b[0]) if b[1] else b[0])
        if self.post == "gzip":
            return st.tuples(blobs, st.booleans()).map(lambda b: gzip.compress(b[0]) if b[1] else b[0])
        return blobs


def _raster(kind):
    return lambda: raster_seeds()[kind]


def _archive(kind):
    return lambda: archive_seeds()[kind]


#: Every reader the folder loader uses, by the file name that selects it.
READER_CASES = [
    Case("PNG", f"{STEM}.png", _raster("png"), "png-crc"),
    Case("JPEG", f"{STEM}.jpg", _raster("jpeg")),
    Case("TIFF", f"{STEM}.tif", _raster("tiff")),
    Case("BMP", f"{STEM}.bmp", _raster("bmp")),
    Case("DICOM .dcm", f"{STEM}.dcm", dicom_seeds),
    Case("DICOM (DICM marker, no extension)", STEM, dicom_seeds),
    Case("NIfTI .nii", f"{STEM}.nii", nifti_seeds),
    Case("NIfTI .nii.gz", f"{STEM}.nii.gz", nifti_seeds, "gzip"),
]
#: What the privacy scan reads: archives it opens (or must list as not searched) and images.
SCAN_CASES = [
    Case("scan: zip (nested)", f"{STEM}.zip", _archive("zip")),
    Case("scan: gzip", f"{STEM}.txt.gz", _archive("gz")),
    Case("scan: tar", f"{STEM}.tar", _archive("tar")),
    Case("scan: tar.gz", f"{STEM}.tar.gz", _archive("tar.gz")),
    Case("scan: bz2", f"{STEM}.txt.bz2", _archive("bz2")),
    Case("scan: PNG", f"{STEM}.png", _archive("png")),
    Case("scan: DICOM", f"{STEM}.dcm", _archive("dcm")),
]

# --------------------------------------------------------------------------- measuring one run


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"{field_name} not in /proc/self/status")


@contextlib.contextmanager
def measured(into: dict):
    """Seconds and peak memory growth of the block into ``into`` ("seconds", "peak_bytes").

    On Linux the kernel's resident high-water mark is reset first (``clear_refs`` 5), so the
    peak includes every allocation (Pillow's and zlib's too); elsewhere tracemalloc's peak.
    """
    kernel = sys.platform.startswith("linux")
    try:
        if kernel:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = _status_kb("VmRSS")
    except OSError:
        kernel = False
    if not kernel:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        yield into
    finally:
        into["seconds"] = time.perf_counter() - start
        if kernel:
            into["peak_bytes"] = max(0, _status_kb("VmHWM") - before) * 1024
        else:
            into["peak_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


@dataclass
class Outcome:
    """How one fuzzed file ended: "loaded" / "skipped" (readers), "found" / "clean" / "not searched" (scan)."""

    result: str
    reasons: list[str]
    seconds: float
    peak_bytes: int


def _skip_reasons(message: str) -> list[str]:
    match = re.search(r" Skipped: (.+?)\. The kit reads", message)
    return [re.sub(r"^\d+ × ", "", r) for r in match.group(1).split("; ")] if match else []


def _in_fresh_folder(parent: Path, filename: str, blob: bytes):
    root = Path(tempfile.mkdtemp(prefix="fuzz-", dir=parent))
    (root / filename).write_bytes(blob)
    return root


def load_fuzzed(parent: Path, case: Case, blob: bytes) -> Outcome:
    """Load a folder holding only ``blob`` (as ``case.filename``) and check the properties.

    Raises AssertionError when one fails; any other exception is a crash of the load.
    """
    root = _in_fresh_folder(parent, case.filename, blob)
    numbers: dict = {}
    try:
        with measured(numbers):
            try:
                loaded = folder_loader.load(str(root), 16, "train", labels=None)
            except DataError as exc:
                result, reasons = "skipped", _skip_reasons(str(exc))
                assert reasons, f"{case.name}: no image and no named skip reason: {exc}"
            else:
                result, reasons = "loaded", [r for _, r in loaded.report.skipped]
                images = loaded.images
                assert len(loaded) >= 1 and np.isfinite(images).all() and np.abs(images).max() <= 1.0, case.name
                assert loaded.images.shape[1:3] == (16, 16), (case.name, images.shape)
        for reason in reasons:
            assert reason.strip(), f"{case.name}: an empty skip reason"
            assert STEM not in reason and str(root) not in reason, f"{case.name}: a reason shows the path: {reason}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _check_bounds(case, numbers)
    return Outcome(result, reasons, numbers["seconds"], numbers["peak_bytes"])


def scan_fuzzed(parent: Path, case: Case, blob: bytes) -> Outcome:
    """Privacy-scan a folder holding only ``blob``; it must account for the file and find a plain needle."""
    root = _in_fresh_folder(parent, case.filename, blob)
    numbers: dict = {}
    try:
        with measured(numbers):
            scan = own_data.privacy_scan([NEEDLE], folders=[root])
        where = privacy.printable(os.fsencode(root / case.filename))
        listed = [p for p in scan.searched + scan.unreadable if where in p]
        assert listed, f"{case.name}: the file is neither searched nor listed as not searched"
        if privacy.needle_pattern(NEEDLE).search(blob):
            assert scan.found, f"{case.name}: the needle is in the file's bytes but the scan says {scan!r}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _check_bounds(case, numbers)
    result = "found" if scan.found else "not searched" if scan.unreadable + scan.not_searched else "clean"
    return Outcome(result, [u.split(" (")[-1].rstrip(")") for u in scan.unreadable + scan.not_searched],
                   numbers["seconds"], numbers["peak_bytes"])


def _check_bounds(case: Case, numbers: dict) -> None:
    assert numbers["seconds"] <= TIME_BOUND_S, f"{case.name}: {numbers['seconds']:.1f} s > {TIME_BOUND_S} s"
    assert numbers["peak_bytes"] <= MEMORY_BOUND, (
        f"{case.name}: peak memory +{numbers['peak_bytes'] / 1e6:.0f} MB > bound {MEMORY_BOUND / 1e6:.0f} MB")


# --------------------------------------------------------------------------- the CI tests (bounded)

CI_SETTINGS = settings(
    deadline=timedelta(seconds=TIME_BOUND_S * 2),
    derandomize=True,  # the same inputs on every CI run: a failure here is reproducible
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


#: (input, check, examples in CI): every reader through the folder loader, every archive through the scan.
FUZZ_TARGETS = [(c, load_fuzzed, 50) for c in READER_CASES] + [(c, scan_fuzzed, 25) for c in SCAN_CASES]


@pytest.mark.parametrize("case, check, examples", FUZZ_TARGETS, ids=[c.name for c, _, _ in FUZZ_TARGETS])
def test_fuzzed_files_load_or_are_skipped_by_name_and_are_scanned(case, check, examples, tmp_path, cache):
    """Readers: loaded images or a named skip; the scan: the file accounted for; both within the bounds."""
    @settings(CI_SETTINGS, max_examples=examples)
    @given(blob=case.strategy())
    def one(blob):
        check(tmp_path, case, blob)

    one()


@pytest.mark.parametrize("case", READER_CASES, ids=lambda c: c.name)
def test_every_seed_file_loads(case, tmp_path, cache):
    """The unmutated seeds are valid files the kit reads (else the fuzzing starts from nothing)."""
    loaded = [load_fuzzed(tmp_path, case, gzip.compress(s) if case.post == "gzip" else s).result
              for s in case.seeds()]
    assert loaded == ["loaded"] * len(loaded), (case.name, loaded)


def test_png_crc_fixer_makes_a_changed_header_parse():
    from PIL import Image

    seed = bytearray(raster_seeds()["png"][0])
    seed[16:20] = struct.pack(">I", 7)  # IHDR width 24 -> 7
    with pytest.raises(Image.UnidentifiedImageError):  # the CRC no longer matches
        Image.open(io.BytesIO(bytes(seed)))
    assert Image.open(io.BytesIO(fix_png_crcs(bytes(seed)))).size == (7, 24)


def _ct_with_window(centre, width) -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom_seeds()[0]))
    if centre is None:
        del ds.WindowCenter, ds.WindowWidth
    else:
        ds.WindowCenter, ds.WindowWidth = centre, width
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("centre, width", [("nan", "nan"), ("", ""), (40, 0), ("1e400", 400)])
def test_a_damaged_stored_ct_window_falls_back_to_the_preset(centre, width, tmp_path, cache):
    """Found by fuzzing: a NaN window blanked every frame, an empty one skipped the whole file."""
    def images(blob):
        root = _in_fresh_folder(tmp_path, f"{STEM}.dcm", blob)
        return folder_loader.load(str(root), 16, "train", labels=None).images

    np.testing.assert_array_equal(images(_ct_with_window(centre, width)), images(_ct_with_window(None, None)))


def test_hypothesis_keeps_nothing_in_the_repository():
    from hypothesis.configuration import storage_directory

    repository = Path(__file__).resolve().parents[1]
    where = storage_directory("constants", intent_to_write=False).path.resolve()
    assert repository not in where.parents, where
    assert CI_SETTINGS.database is None


def _nifti_folder(parent: Path, volume: np.ndarray, pixdim=None) -> Path:
    import nibabel as nib

    blob = bytearray(nib.Nifti1Image(volume.astype(np.float32), np.eye(4)).to_bytes())
    if pixdim is not None:  # written raw: nibabel refuses to set such voxel sizes itself
        blob[80:92] = np.array(pixdim, "<f4").tobytes()
    return _in_fresh_folder(parent, f"{STEM}.nii", bytes(blob))


@pytest.mark.parametrize("pixdim", [(np.inf, 1, 1), (np.nan, 1, 1), (1, np.inf, 1)])
def test_nifti_with_a_damaged_voxel_size_loads_with_square_voxels(pixdim, tmp_path, cache):
    """Found by fuzzing: an infinite pixdim crashed the whole load (OverflowError)."""
    volume = np.random.default_rng(0).uniform(0, 100, (12, 12, 3))
    damaged = folder_loader.load(str(_nifti_folder(tmp_path, volume, pixdim)), 16, "train", labels=None)
    square = folder_loader.load(str(_nifti_folder(tmp_path, volume)), 16, "train", labels=None)
    np.testing.assert_array_equal(damaged.images, square.images)


def test_nifti_whose_slices_are_all_near_empty_is_skipped_with_the_reason(tmp_path, cache):
    """Found by fuzzing: the load failed with no reason at all (the dropped slices were only a note)."""
    volume = np.zeros((12, 12, 3))
    volume[5, 5, :] = 100.0  # one bright voxel a slice: 0.7 % foreground
    with pytest.raises(DataError, match="every slice is near-empty"):
        folder_loader.load(str(_nifti_folder(tmp_path, volume)), 16, "train", labels=None)
