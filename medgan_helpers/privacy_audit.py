"""A privacy audit of what the kit kept and wrote: search it for strings that identify a patient.

- :func:`privacy_scan` searches the loaded datasets' reports, cards and
  metadata, and every byte and every file name of the caches, runs and exports,
  for strings that identify a patient, however they are written — a check you
  can run, not a promise to trust;
- :func:`patient_identifiers` collects those strings from your DICOM headers
  (in memory, to pass to the scan);
- :func:`identifying_fields` names (never shows) the identifying DICOM fields of a file.

Notebook 07 reaches these through :mod:`medgan_helpers.own_data`, which
re-exports them. The matching rules (Unicode forms, separators, digit runs)
live in :mod:`medgan_helpers.data.privacy`.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan_helpers import data
from medgan_helpers.data import privacy

__all__ = ["IDENTIFYING_KEYWORDS", "PrivacyScan", "identifying_fields", "patient_identifiers", "privacy_scan"]


@dataclass
class PrivacyScan:
    """Where (if anywhere) the searched strings were found. The strings themselves are never shown."""

    needles: list[str] = field(repr=False)
    searched: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    not_regular: list[str] = field(default_factory=list)
    not_searched: list[str] = field(default_factory=list)
    bytes_searched: int = 0

    @property
    def clean(self) -> bool:
        """True when nothing was found and every file and archive's content could be searched."""
        return not self.found and not self.unreadable and not self.not_searched

    def __str__(self) -> str:
        head = (
            f"Searched {len(self.searched)} places ({self.bytes_searched / 1e6:.1f} MB: every file, "
            f"file name and archive member) for {len(self.needles)} identifying string(s) "
            "(not shown here): "
        )
        lines = [head + ("no trace found." if not self.found else f"FOUND in {len(self.found)} place(s):")]
        lines += [f"  found in {place}" for place in self.found]
        lines += [f"  could NOT be read, so not searched: {place}" for place in self.unreadable]
        lines += [f"  archive content NOT searched: {place}" for place in self.not_searched]
        if self.not_regular:
            lines.append(f"  ({len(self.not_regular)} FIFOs, sockets or devices skipped: they hold no bytes)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<PrivacyScan clean={self.clean}: {len(self.found)} found, {len(self.searched)} searched>"


#: Overlap kept between chunks so a match across a chunk boundary is not missed.
_OVERLAP = 4096
_CHUNK = 1 << 22
#: Blobs up to this size (names, reports, cards) are also searched NFKC-normalised and case-folded;
#: file contents are searched for the needles' NFC, NFD and NFKC forms only (normalising every
#: chunk of every file would cost more than the search).
_NORMALISED = 1 << 16


class _Searcher:
    """Runs every needle's pattern over names and byte streams, recording the places."""

    def __init__(self, needles: list[str]) -> None:
        self.scan = PrivacyScan(list(needles))
        self.patterns = [privacy.needle_pattern(n) for n in needles]
        self._anchored = [(privacy.needle_anchors(n), p) for n, p in zip(needles, self.patterns)]

    def _hit(self, blob: bytes) -> bool:
        texts = [blob, blob.replace(b"\0", b"")]  # and UTF-16 text (NULs between letters)
        if len(blob) <= _NORMALISED and not blob.isascii():  # names, reports: full-width, ligatures
            texts.append(privacy.normalise(blob.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"))
        for text in texts:
            low = text.lower()
            if any(any(a in low for a in anchors) and p.search(text) for anchors, p in self._anchored):
                return True
        return False

    def _masked(self, label: str) -> str:
        """``label`` with every match of a needle replaced by «…» (places are printed)."""
        raw = label.encode("utf-8", "surrogateescape")
        for pattern in self.patterns:
            raw = pattern.sub("«…»".encode(), raw)
        folded = privacy.normalise(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        if any(pattern.search(folded) for pattern in self.patterns):  # a full-width or ligature form
            for pattern in self.patterns:
                folded = pattern.sub("«…»".encode(), folded)
            raw = folded
        return privacy.printable(raw)

    def _found(self, label: str) -> None:
        self.scan.found.append(self._masked(label))

    def blob(self, label: str, blob: bytes) -> None:
        """Search one in-memory blob (a name, a report, a card)."""
        self.scan.searched.append(label)
        self.scan.bytes_searched += len(blob)
        if self._hit(blob):
            self._found(label)

    def stream(self, label: str, fh, depth: int = 0) -> None:
        """Search a file-like object chunk by chunk; zip, gzip, bz2 and xz content is searched too."""
        self.scan.searched.append(label)
        tail, head, hit = b"", b"", False
        while chunk := fh.read(_CHUNK):
            head = head or chunk[:8]
            self.scan.bytes_searched += len(chunk)
            window = tail + chunk
            hit = hit or self._hit(window)
            tail = window[-_OVERLAP:]
        if hit:
            self._found(label)
        kind = _archive_kind(head)
        if kind is None:
            return
        if kind not in _OPENED:
            self.scan.not_searched.append(f"{self._masked(label)} ({kind}: this scan cannot open it)")
        elif depth >= ARCHIVE_DEPTH:
            self.scan.not_searched.append(
                f"{self._masked(label)} ({kind} nested more than {ARCHIVE_DEPTH} archives deep)")
        else:
            fh.seek(0)
            self._archive(label, fh, kind, depth)

    def _archive(self, label: str, fh, kind: str, depth: int) -> None:
        import bz2
        import gzip
        import lzma
        import zipfile

        streams = {"gzip": lambda: gzip.GzipFile(fileobj=fh, mode="rb"),
                   "bz2": lambda: bz2.BZ2File(fh, mode="rb"),
                   "xz": lambda: lzma.LZMAFile(fh, mode="rb")}
        try:
            if kind in streams:
                with streams[kind]() as inner:
                    self.stream(f"{label} ({kind} content)", inner, depth + 1)
            elif zipfile.is_zipfile(fh):
                fh.seek(0)
                with zipfile.ZipFile(fh) as archive:
                    for info in archive.infolist():
                        inner_label = f"{label} :: {privacy.printable(info.filename)}"
                        self.blob(f"{inner_label} (name)", info.filename.encode("utf-8", "surrogateescape"))
                        with archive.open(info) as member:
                            self.stream(inner_label, _Seekable(member, info.file_size), depth + 1)
        except Exception as exc:  # a damaged archive: its compressed content was not searched
            self.scan.unreadable.append(f"{self._masked(label)} (archive content: {type(exc).__name__})")

    def folder(self, folder: str | Path) -> None:
        """Every file and folder name and every file's bytes under ``folder``, recursively."""
        root = os.fsencode(Path(folder))
        if not os.path.lexists(root):
            return
        self.blob(f"{privacy.printable(root)} (name)", os.path.basename(root.rstrip(b"/")))
        if not os.path.isdir(root):
            return self._file(root)

        def unreadable_dir(error: OSError) -> None:
            where = self._masked(privacy.printable(os.fsencode(error.filename or b"")))
            self.scan.unreadable.append(f"{where} ({type(error).__name__})")

        for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_dir):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                self.blob(f"{privacy.printable(full)} (name)", name)
                if os.path.islink(full):
                    self.blob(f"{privacy.printable(full)} (link target)", os.readlink(full))
            for name in filenames:
                self._file(os.path.join(dirpath, name))

    def _file(self, full: bytes) -> None:
        label = privacy.printable(full)
        try:
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                return  # its target is searched where it lives (if under a searched folder)
            if not stat.S_ISREG(mode):
                self.scan.not_regular.append(label)
                return
            with open(full, "rb") as fh:
                self.stream(label, fh)
        except OSError as exc:
            self.scan.unreadable.append(f"{self._masked(label)} ({type(exc).__name__})")


#: Archives nested deeper than this are listed as "not searched" (a zip bomb stays bounded).
ARCHIVE_DEPTH = 3
#: Formats whose content the scan opens (standard library only); others are "not searched".
_OPENED = ("zip", "gzip", "bz2", "xz")
_SIGNATURES = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07", "rar"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def _archive_kind(head: bytes) -> str | None:
    """The compressed-archive format that ``head`` (a file's first bytes) starts, if any.

    Tar is not listed: its members are stored uncompressed, so the byte search sees them.
    """
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


class _Seekable(io.RawIOBase):
    """A zip member that can be searched, then re-read from the start if it is an archive."""

    def __init__(self, member, size: int) -> None:
        self._member, self._size = member, size
        self._buffer: io.BytesIO | None = None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = (self._buffer or self._member).read(n)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._buffer is None:  # small members are re-read from memory, big ones not
            if self._size > 64 * 1024**2:
                raise OSError("nested archive too large to search again")
            self._member.seek(0)
            self._buffer = io.BytesIO(self._member.read())
        return self._buffer.seek(offset, whence)

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._buffer.tell() if self._buffer is not None else 0


def privacy_scan(
    needles: list[str],
    imagesets: list[data.ImageSet] = (),
    folders: list[str | Path] = (),
) -> PrivacyScan:
    """Search loaded datasets and every byte under ``folders`` for identifying strings.

    Searched: each ImageSet's name, class names, full load report (every skipped
    file, not just those ``print`` shows), card and metadata — as text, JSON and
    pickle; and under each folder, recursively, every file and folder name (any
    bytes, UTF-8 or not), link targets, every byte of every regular file, and the
    content of zip (``.npz``, ``.keras``) and gzip files. A string matches however
    it was written: ``Doe^Jane`` also finds ``DOE JANE``, ``doe_jane``, ``Doe, Jane``,
    ``Jane Doe``, ``doejane``, URL/JSON-escaped and UTF-16 forms, in NFC, NFD and
    NFKC; an ID matches alone, and so do its digit runs of 4+ digits
    (``MRN-001234`` finds ``case_1234``). Names and the datasets' texts are also
    searched NFKC-normalised and case-folded (full-width letters, ligatures).
    Files that cannot be read make the scan not ``clean``.

    Args:
        needles: strings that would identify a patient (names, IDs, birth dates),
            e.g. from :func:`patient_identifiers`. Each needs 3+ letters or digits.
        imagesets: loaded datasets.
        folders: folders (or files) to search, e.g. ``config.cache_dir()``, a run
            folder, an export folder, ``config.artifacts_dir()``.
    """
    searcher = _Searcher(list(needles))
    for ds in imagesets:
        where = f"{ds.name}/{ds.split}"
        report, card = ds.report, ds.card()
        searcher.blob(f"{where} name and classes", "\n".join([ds.name, *ds.class_names]).encode(
            "utf-8", "surrogateescape"))
        searcher.blob(f"{where} load report", (str(report) + json.dumps(report.to_dict())).encode(
            "utf-8", "surrogateescape"))
        searcher.blob(f"{where} dataset card", (
            str(card) + card._repr_markdown_() + json.dumps(card.to_dict(), default=str)
        ).encode("utf-8", "surrogateescape"))
        for key, values in ds.metadata.items():
            searcher.blob(f"{where} metadata[{key}]", "\n".join(
                map(str, np.asarray(values).ravel().tolist())).encode("utf-8", "surrogateescape"))
        searcher.blob(f"{where} pickled report, card and metadata",
                      pickle.dumps((report, card, ds.metadata, ds.name, ds.class_names)))
    for folder in folders:
        searcher.folder(folder)
    return searcher.scan


def patient_identifiers(folder: str | Path, min_length: int = 6) -> list[str]:
    """The patient names, IDs and birth dates in the DICOM headers under ``folder`` — for a scan.

    Values are returned to you, in memory, to pass to :func:`privacy_scan`; do not
    print them. Values with fewer than ``min_length`` letters and digits are left
    out (short strings turn up by chance in binary files). Only regular files with
    a DICOM extension or the ``DICM`` marker are read, headers only.
    """
    import pydicom

    from medgan_helpers.data import readers

    wanted = ("PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames",
              "PatientBirthName", "PatientBirthDate")
    values: dict[str, None] = {}
    for dirpath, _, filenames in os.walk(Path(folder)):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if readers.file_kind(path) != "dicom":
                continue
            try:
                with readers.open_regular(path) as fh:
                    header = pydicom.dcmread(fh, specific_tags=list(wanted), stop_before_pixels=True, force=True)
            except Exception:  # the loader reports broken files
                continue
            for keyword in wanted:
                value = header.get(keyword)
                many = isinstance(value, (list, tuple, pydicom.multival.MultiValue))
                for v in (value if many else [value]):
                    text = str(v or "").strip()
                    if len("".join(privacy.tokens(text))) >= min_length:
                        values[text] = None
            del header
    return list(values)


#: DICOM keywords that identify a patient or an encounter (a subset of the DICOM
#: PS3.15 basic confidentiality profile); the kit reads pixels, never keeps these.
IDENTIFYING_KEYWORDS = privacy.IDENTIFYING_KEYWORDS


def identifying_fields(path: str | Path) -> list[str]:
    """Names (never values) of the identifying DICOM fields present in one file."""
    import pydicom

    from medgan_helpers.data import readers

    with readers.open_regular(Path(path)) as fh:
        header = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
    present = [k for k in IDENTIFYING_KEYWORDS if str(header.get(k, "") or "").strip()]
    del header  # the values go out of scope here; nothing is returned but the names
    return present
