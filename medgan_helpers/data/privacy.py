"""Keeping patient identifiers out of everything the kit stores.

- :func:`opaque_id`: a stable, opaque name for a folder or a file — a keyed hash
  (HMAC-SHA256) of its path, so the name says nothing and cannot be confirmed by
  hashing a guessed path. The key is 32 random bytes kept in
  ``<cache>/privacy.key`` (made on first use); a new key gives new ids.
- :class:`Identities`: identifying DICOM values seen while loading, held in
  memory only (never pickled, never printed), to refuse class names that
  contain one.
- :func:`needle_pattern`: a byte pattern that finds a name or an ID however it
  was written (``Doe^Jane``, ``DOE_JANE``, ``Jane Doe``, ``doe,jane``, …), used by
  :func:`medgan_helpers.privacy_audit.privacy_scan`.
- Both compare text after :func:`normalise` (Unicode NFKC, then case-folded), so
  a name written in NFD (as macOS writes file names) or in full-width letters is
  the same name; and both match an ID's digit runs of 4+ digits on their own
  (:func:`digit_runs`: ``MRN-001234`` is found in ``case_001234`` and ``case_1234``).
- :func:`is_placeholder`: an ID such as ``ANONYMOUS`` that names no one.
- :func:`scrub`, :func:`printable`: error messages without paths or identifiers;
  any string (even from a non-UTF-8 file name) made safe to print.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
import unicodedata
import warnings
from pathlib import Path

from medgan_helpers import config

#: DICOM keywords that identify a patient or an encounter (a subset of the DICOM
#: PS3.15 basic confidentiality profile); the kit never keeps their values.
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientAddress",
    "OtherPatientIDs", "OtherPatientNames", "PatientTelephoneNumbers",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime",
    "AccessionNumber", "InstitutionName", "InstitutionAddress",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "StudyID",
)  # fmt: skip
#: Values read (in memory only) to check class names: who the patient is.
CHECKED_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "AccessionNumber", "MedicalRecordLocator",
)  # fmt: skip
#: Values read (in memory only) to keep one patient's images in one split, in this order.
GROUP_KEYWORDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
#: Tokens shorter than this are too common to tell anything (and to search for).
MIN_TOKEN = 3
#: Digit runs of an ID at least this long are matched on their own (``MRN-001234`` -> ``001234``).
MIN_DIGIT_RUN = 4
#: IDs that name no one once their letters and digits are normalised (anonymisers write these).
PLACEHOLDER_IDS = frozenset({
    "anonymous", "anon", "anonymized", "anonymised", "anonymouspatient", "anonymous1", "anonpatient",
    "deidentified", "deid", "removed", "redacted", "unknown", "none", "null", "nil", "na", "nan",
    "notavailable", "noid", "nopatientid", "patient", "patientid", "xxx", "xxxx",
})  # fmt: skip
KEY_FILE = "privacy.key"
_SEPARATOR = rb"(?:[\s^,_.;:/|+=\-]|%5[eE]|%20|%2[cC]|\\u005[eE]|&#94;){0,6}"


# --------------------------------------------------------------------------- opaque ids


_KEYS: dict[str, bytes] = {}


def _key() -> bytes:
    """The per-cache secret key (32 random bytes), made atomically on first use."""
    folder = config.cache_dir()
    path = folder / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    return _new_key(folder, path)


def _cached_key() -> bytes:
    """:func:`_key`, read once per process and cache folder.

    If the cache folder is read-only, a random key for this process is used (and
    said): ids are then opaque but change with every session.
    """
    folder = str(config.cache_dir())
    if folder not in _KEYS:
        try:
            _KEYS[folder] = _key()
        except OSError as exc:
            warnings.warn(
                f"Cannot keep the privacy key in {folder} ({type(exc).__name__}); dataset and "
                "file ids will differ in the next session. Set MEDGAN_CACHE_DIR to a writable folder.",
                stacklevel=3,
            )
            _KEYS[folder] = os.urandom(32)
    return _KEYS[folder]


def _new_key(folder: Path, path: Path) -> bytes:
    """Make the key file: written aside, then linked into place (the first process wins)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{KEY_FILE}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
        try:
            os.link(tmp, path)  # atomic; fails if another process made the key first
        except OSError:  # it exists (damaged, or made meanwhile), or no hard links here
            try:
                usable = len(path.read_bytes()) == 32
            except OSError:
                usable = False
            if not usable:
                os.replace(tmp, path)
                tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path.read_bytes()


def opaque_id(prefix: str, *parts: str | bytes, length: int = 12) -> str:
    """``prefix-<hex>``: a keyed hash of ``parts`` (paths as bytes, any file name works)."""
    message = b"\0".join(p if isinstance(p, bytes) else os.fsencode(p) for p in (prefix, *parts))
    return f"{prefix}-{hmac.new(_cached_key(), message, hashlib.sha256).hexdigest()[:length]}"


def group_token(kind: str, value: str) -> str:
    """An in-memory stand-in for a grouping key (PatientID, UID, folder): never stored."""
    return hashlib.sha256(os.fsencode(f"{kind}\0{value}")).hexdigest()


# --------------------------------------------------------------------------- identities


def normalise(value: str) -> str:
    """``value`` in Unicode NFKC, case-folded: how names and IDs are compared.

    NFD (``u`` + combining diaeresis, as macOS writes file names), full-width and
    ligature forms become one form; ``Straße`` and ``STRASSE`` compare equal.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", str(value)).casefold())


def tokens(value: str) -> list[str]:
    """Normalised letter/digit runs of ``value`` (``'Doe^Jane-X'`` -> ``['doe', 'jane', 'x']``)."""
    return re.findall(r"[^\W_]+", normalise(value))


def digit_runs(value: str) -> list[str]:
    """The runs of digits of ``value`` with 4+ significant digits, leading zeros dropped.

    ``'MRN-001234'`` -> ``['1234']``; ``'P12'`` -> ``[]``. Two IDs that share such a run
    name the same record as far as the kit can tell (prefixes are often dropped).
    A run with fewer significant digits (``'DEMO-0001'`` -> ``[]``) is not matched on
    its own: alone it would match every file counter (``sample_0001.png``); the whole
    ID is still matched.
    """
    runs = []
    for run in re.findall(r"\d+", normalise(value), flags=re.ASCII):
        core = run.lstrip("0")
        if len(core) >= MIN_DIGIT_RUN:
            runs.append(core)
    return runs


def is_placeholder(value: str) -> bool:
    """True for an ID that names no one: ``ANONYMOUS``, ``n/a``, ``0000``, ``XXXX``, empty.

    Only fixed words and all-zero IDs: a short real ID (``"7"``) must keep its patient together.
    """
    joined = "".join(tokens(value))
    return joined in PLACEHOLDER_IDS or not joined.strip("0")


class Identities:
    """Identifying DICOM values seen during one load — in memory only, never shown or pickled."""

    def __init__(self) -> None:
        self._values: list[tuple[str, list[str]]] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, keyword: str, value) -> None:
        """Remember one header value (a person name, an ID, a date) of ``keyword``."""
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            toks = tokens(str(v))
            joined = "".join(toks)
            if len(joined) >= MIN_TOKEN and (keyword, joined) not in self._seen:
                self._seen.add((keyword, joined))
                self._values.append((keyword, toks))

    def __len__(self) -> int:
        return len(self._values)

    def found_in(self, name: str) -> str | None:
        """The keyword of an identifying value that ``name`` contains, else None.

        Both sides are :func:`normalise`-d. Matches the whole value with any
        separators and case (``DOE_JANE`` contains ``Doe^Jane``), name parts in
        either order (``JaneDoe``), for person names any single name part of 3+
        letters that is a whole word of ``name``, and any digit run of 4+ digits
        of the value that is a whole digit run of ``name`` (leading zeros aside:
        ``case_001234`` and ``case1234`` contain ``MRN-001234``).
        """
        name_toks = tokens(name)
        glued = "".join(name_toks)
        name_digits = set(digit_runs(name))
        for keyword, toks in self._values:
            if "".join(toks) in glued or "".join(reversed(toks)) in glued:
                return keyword
            if keyword.endswith("Name") and any(len(t) >= MIN_TOKEN and t in name_toks for t in toks):
                return keyword
            if name_digits.intersection(digit_runs(" ".join(toks))):
                return keyword
        return None

    def __repr__(self) -> str:
        return f"<Identities: {len(self)} values, held in memory only>"

    def __reduce__(self):  # pickles (and copies) never carry the values
        return (Identities, ())


# --------------------------------------------------------------------------- search patterns


def _token_forms(token: str) -> list[bytes]:
    forms: set[bytes] = set()
    cases = {token, token.lower(), token.upper(), token.capitalize(), normalise(token)}
    # as typed, composed (NFC), decomposed (NFD: macOS file names) and compatibility (NFKC) forms
    variants = {unicodedata.normalize(form, c) for c in cases for form in ("NFC", "NFD", "NFKC")} | cases
    for variant in variants:
        forms.add(variant.encode("utf-8"))
        try:
            forms.add(variant.encode("latin-1"))
        except UnicodeEncodeError:
            pass
        if not variant.isascii():  # as JSON writes it with ensure_ascii
            forms.add("".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in variant).encode())
    return sorted(forms, key=len, reverse=True)


def needle_anchors(needle: str) -> list[bytes]:
    """Lower-cased byte forms of the needle's longest token: every match contains one.

    A cheap ``in`` test on ``blob.lower()`` with these rules out most blobs before
    the (slower) :func:`needle_pattern` runs.
    """
    toks = re.findall(r"[^\W_]+", str(needle)) or [str(needle)]
    forms = {form.lower() for form in _token_forms(max(toks, key=len))}
    return sorted(forms | {run.encode() for run in digit_runs(needle)})  # digit runs match alone


def needle_pattern(needle: str) -> re.Pattern[bytes]:
    """A case-insensitive byte pattern for ``needle`` however it was written.

    ``"Doe^Jane"`` matches ``Doe^Jane``, ``DOE JANE``, ``doe_jane``, ``Doe, Jane``,
    ``Jane Doe``, ``doejane`` and URL- or JSON-escaped separators; an ID like
    ``"PID-123-X"`` matches ``pid_123_x`` and ``PID123X``. Letters are searched in
    their NFC, NFD and NFKC forms; an ID's digit runs of 4+ digits are also
    matched alone, as a whole run of digits with any leading zeros
    (``MRN-001234`` finds ``case_001234`` and ``case_1234``).

    Raises:
        ValueError: the needle has fewer than 3 letters or digits (it would match anything).
    """
    toks = re.findall(r"[^\W_]+", str(needle))
    if len("".join(toks)) < MIN_TOKEN:
        raise ValueError(
            f"The privacy-scan string {printable(needle)!r} has fewer than {MIN_TOKEN} letters "
            "or digits, so it would match almost anything; give a full name or ID."
        )
    orders = {tuple(toks), tuple(toks[1:] + toks[:1]), tuple(reversed(toks))}
    alternatives = []
    for order in sorted(orders):
        parts = [b"(?:" + b"|".join(re.escape(f) for f in _token_forms(t)) + b")" for t in order]
        alternatives.append(_SEPARATOR.join(parts))
    alternatives += [rb"(?<![0-9])0*" + run.encode() + rb"(?![0-9])" for run in digit_runs(needle)]
    return re.compile(b"|".join(alternatives), re.IGNORECASE)


# --------------------------------------------------------------------------- messages


def printable(text: str | bytes) -> str:
    """``text`` safe to print anywhere: undecodable bytes become ``\\xNN`` escapes."""
    raw = text if isinstance(text, bytes) else str(text).encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


def scrub(message: str, secrets: list[str | Path]) -> str:
    """``message`` with every path, file or folder name in ``secrets`` replaced by ``…``."""
    words: set[str] = set()
    for secret in secrets:
        text = str(secret)
        words.add(text)
        words.update(p for p in re.split(r"[\\/]", text) if len(p) >= MIN_TOKEN)
        words.update(t for t in re.findall(r"[^\W_]+", text) if len(t) >= 4)
    out = str(message)
    for word in sorted(words, key=len, reverse=True):
        out = out.replace(word, "…")
    out = printable(out)
    return out if len(out) <= 200 else out[:199] + "…"
