"""Which images belong to one patient: every key a file has, joined (union-find).

A file of a ``folder:`` dataset has up to five grouping keys: its DICOM
PatientID, StudyInstanceUID and SeriesInstanceUID, its patient sub-folder (the
first level below the class folder) and the file itself. Files that share *any*
key are one patient, so a patient folder holding DICOMs with a PatientID and
PNGs, or DICOMs with a fresh StudyInstanceUID per file, stays one group — and
so in one split.

Anonymisers often write one value into every file (``PatientID="ANONYMOUS"``).
Joining on it would make the whole folder one patient, so such a value is not a
key: a fixed placeholder word (:func:`~medgan_helpers.data.privacy.is_placeholder`),
or any DICOM value shared by ``PLACEHOLDER_MIN_FOLDERS`` or more patient
sub-folders — no real patient's ID or study spans that many patient folders in
the layout the kit reads (``class/patient/…``); the sub-folders decide instead.
The load report says so, with the number of folders, never the value.

Keys are in-memory tokens (:func:`~medgan_helpers.data.privacy.group_token`):
no ID, UID or folder name is kept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from medgan_helpers.data.dicom import GROUP_KINDS, PLACEHOLDER
from medgan_helpers.data.readers import Slice

SUB_FOLDER, FILE = "sub-folder", "file"
#: A DICOM value shared by this many patient sub-folders or more is a placeholder, not a patient.
PLACEHOLDER_MIN_FOLDERS = 3
#: The kind a group is named by: the first kind every one of its images shares one value of.
KIND_ORDER = (*GROUP_KINDS.values(), SUB_FOLDER, FILE)
JOINED = "keys joined across files"
RULE = (
    "a group is one patient: files that share any key — DICOM PatientID, StudyInstanceUID or "
    "SeriesInstanceUID, or the patient sub-folder (first level below the class folder) — are joined; "
    "a file with none is its own group. A PatientID or UID that is a placeholder ('ANONYMOUS'), or "
    f"is shared by {PLACEHOLDER_MIN_FOLDERS}+ patient sub-folders, is not used: the sub-folders decide"
)


@dataclass
class Grouping:
    """The group of every image (in-memory tokens), how each group is tied, and notes to report."""

    groups: list[str]
    kinds: Counter = field(default_factory=Counter)  # kind -> number of groups
    notes: list[str] = field(default_factory=list)


class _Union:
    """Union-find over hashable keys, with path halving."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, key):
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smallest key is the root: order-free


def _shared_placeholders(slices: Sequence[Slice]) -> tuple[set, list[str]]:
    """DICOM keys shared by too many patient sub-folders to be one patient, and what to report."""
    folders_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in slices:
        folder = next((token for kind, token in s.keys if kind == SUB_FOLDER), None)
        if folder is None:
            continue
        for kind, token in s.keys:
            if kind in GROUP_KINDS.values() and token != PLACEHOLDER:
                folders_of[(kind, token)].add(folder)
    shared = {key: len(f) for key, f in folders_of.items() if len(f) >= PLACEHOLDER_MIN_FOLDERS}
    notes = []
    for kind in GROUP_KINDS.values():
        counts = sorted((n for (k, _), n in shared.items() if k == kind), reverse=True)
        if counts:
            values = "1 value" if len(counts) == 1 else f"{len(counts)} values"
            notes.append(
                f"{kind}: {values} shared by {', '.join(map(str, counts))} patient sub-folders — taken "
                "as a placeholder (as anonymisers write, e.g. 'ANONYMOUS'), not a patient; the "
                "sub-folders decide (the value is not shown)"
            )
    return set(shared), notes


def _kind_of(members: list[Slice], used: set) -> str:
    for kind in KIND_ORDER:
        values = {tuple(t for k, t in s.keys if k == kind and (k, t) in used) for s in members}
        if len(values) == 1 and len(next(iter(values))) == 1:
            return kind
    return JOINED


def patient_groups(slices: Sequence[Slice]) -> Grouping:
    """The patient group of every slice: files that share any usable key are one group.

    Deterministic: a group's token is the smallest key token in it, whatever the order.
    """
    shared, notes = _shared_placeholders(slices)
    marked = Counter(kind for s in slices for kind, token in s.keys if token == PLACEHOLDER)
    for kind, n in sorted(marked.items()):
        notes.append(f"{kind}: a placeholder (e.g. 'ANONYMOUS', empty or all zeros) in {n} images — "
                     "not used to group them")
    union = _Union()
    used: set = set()
    for s in slices:
        keys = [(k, t) for k, t in s.keys if t != PLACEHOLDER and (k, t) not in shared]
        used.update(keys)
        for key in keys[1:]:
            union.union(keys[0], key)
        union.find(keys[0])
    roots = [union.find(next(k for k in s.keys if k in used)) for s in slices]
    members: dict = defaultdict(list)
    for s, root in zip(slices, roots):
        members[root].append(s)
    kinds = Counter(_kind_of(group, used) for group in members.values())
    joined = kinds.get(JOINED, 0)
    if joined:
        notes.append(f"{joined} group(s) join files through different keys (e.g. a folder's DICOMs "
                     "and PNGs, or one PatientID across folders)")
    return Grouping([root[1] for root in roots], kinds, notes)
