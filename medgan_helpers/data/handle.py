"""Dataset handles: what it takes to load a dataset again, passed around explicitly.

Every set :func:`medgan_helpers.data.load_dataset` returns carries one
(``imageset.handle``): the dataset's name, the size, seed and options it was
loaded with, and where to find it. ``load_dataset(imageset.handle, split="test")``
loads another split of the same data the same way, so a function that needs
"the same dataset, another split" takes a handle instead of looking a name up
in a hidden table.

For a user's own folder (``folder:PATH``, ``folder-pairs:PATH``) the handle
holds the folder's path in this process's memory only: its ``repr``,
:meth:`DatasetHandle.to_dict` and pickles leave it out (the kit never persists
paths). A handle without it — unpickled, or rebuilt from a dataset id read in
a run folder — cannot load the folder, and says to pass the folder again.

This module imports nothing from the kit: a handle is data, and
:func:`~medgan_helpers.data.load_dataset` is what loads it.
"""

from __future__ import annotations

from typing import Any

#: Sources whose location is a path on this machine (kept in memory only).
LOCAL_SOURCES = ("folder:", "folder-pairs:")


class DatasetHandle:
    """Name, size, seed and options of a loaded dataset, and (in memory) where it came from.

    Immutable. Two handles are equal when they name the same dataset loaded the
    same way (the in-memory location is not compared: it is what the name hashes).
    """

    __slots__ = ("name", "image_size", "seed", "_options", "_source")

    def __init__(self, name: str, *, image_size: int, seed: int = 0, options: dict[str, Any] | None = None,
                 source: str | None = None) -> None:
        object.__setattr__(self, "name", str(name))
        object.__setattr__(self, "image_size", int(image_size))
        object.__setattr__(self, "seed", int(seed))
        frozen = tuple(sorted((str(k), _frozen(v)) for k, v in (options or {}).items()))
        object.__setattr__(self, "_options", frozen)
        object.__setattr__(self, "_source", source)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"a DatasetHandle is immutable (tried to set {key!r})")

    @property
    def options(self) -> dict[str, Any]:
        """The source options the dataset was loaded with (a copy)."""
        return dict(self._options)

    @property
    def local(self) -> bool:
        """True for a user's own folder (its path is known to this process only)."""
        return self._source is None or self._source.startswith(LOCAL_SOURCES)

    @property
    def can_load(self) -> bool:
        """True when this handle knows where its data is (False once it lost an in-memory path)."""
        return self._source is not None

    @property
    def source(self) -> str | None:
        """What :func:`~medgan_helpers.data.load_dataset` is given to load it; None when unknown.

        For a local folder this is ``folder:<absolute path>``: show it on screen
        if you must, never write it into a file or a run.
        """
        return self._source

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description: name, image size, seed and options; never a path."""
        def plain(value: Any) -> Any:
            return [plain(v) for v in value] if isinstance(value, (tuple, list)) else value

        return {"name": self.name, "image_size": self.image_size, "seed": self.seed,
                "options": {k: plain(v) for k, v in self._options}}

    def _key(self) -> tuple:
        return (self.name, self.image_size, self.seed, self._options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetHandle) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        where = "" if not self.local else ", local folder" if self.can_load else ", local folder: not known here"
        return f"DatasetHandle({self.name!r}, image_size={self.image_size}, seed={self.seed}{where})"

    def __copy__(self) -> DatasetHandle:
        return self  # immutable: a copy in the same process is the same handle (with its location)

    def __deepcopy__(self, memo: dict) -> DatasetHandle:
        return self

    def __reduce__(self):
        # A pickle may be written to disk: a local folder's path never goes into it.
        source = None if self.local else self._source
        return (_rebuild, (self.name, self.image_size, self.seed, self._options, source))


def _frozen(value: Any) -> Any:
    """Lists as tuples, so a handle can be hashed (``ct_window=[40, 400]`` -> ``(40, 400)``)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def _rebuild(name: str, image_size: int, seed: int, options: tuple, source: str | None) -> DatasetHandle:
    return DatasetHandle(name, image_size=image_size, seed=seed, options=dict(options), source=source)
