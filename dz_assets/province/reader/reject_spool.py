"""Rejected rows held while a package is proven or loaded (``RejectSpool``), and handed out as the
verdict's ``rejects`` (``RejectDicts``): bounded in memory, the rest spooled to disk, since a
package may reject millions of lines. Where they are kept afterwards (``meta.reject``, the rejects
file) is delivery's concern (``province.delivery.rejects``).
"""

from __future__ import annotations

import io
import itertools
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from dz_assets.province.reader.bcp import Reject

# Rejects kept in memory per spool before the rest goes to disk: ~20 MB of person rows.
MEMORY_ROWS = 50_000


class RejectSpool:
    """Rejected rows in arrival order, bounded in memory.

    Past ``limit`` rows they go on, pickled in blocks, to an anonymous temporary file (unlinked
    at creation: gone with the spool or the process), and iterating reads them back in order. A
    package whose every line is bad (millions of rejects, each with its raw line) thus loads and
    reports within the loader's memory bound instead of growing with the package. ``adopt``
    appends other spools without copying (a table's files, a batch's tables). Not for iterating
    while another thread extends it.
    """

    def __init__(self, rejects: Iterable[Reject] = (), *, limit: int | None = None) -> None:
        self.limit = MEMORY_ROWS if limit is None else limit
        self._mem: list[Reject] = []
        self._disk: IO[bytes] | None = None
        self._own = 0
        self._parts: list[RejectSpool] = []
        self.extend(rejects)

    def extend(self, rejects: Iterable[Reject]) -> None:
        if self._parts:
            raise RuntimeError("a spool that adopted others is read-only")
        before = len(self._mem)
        self._mem.extend(rejects)
        self._own += len(self._mem) - before
        if len(self._mem) > self.limit:
            if self._disk is None:
                self._disk = tempfile.TemporaryFile(prefix="dzhub-rejects-")  # noqa: SIM115 (the spool's life)
            self._disk.seek(0, io.SEEK_END)
            rows = [(r.table, r.file, r.line, r.field, r.reason, r.raw) for r in self._mem]  # 7x faster than objects
            pickle.dump(rows, self._disk, protocol=pickle.HIGHEST_PROTOCOL)
            self._mem = []

    def adopt(self, other: RejectSpool) -> None:
        """Append ``other``'s rejects after these, without copying them."""
        self._parts.append(other)

    def __len__(self) -> int:
        return self._own + sum(map(len, self._parts))

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[Reject]:
        if self._disk is not None:
            self._disk.seek(0)
            while True:
                try:
                    block = pickle.load(self._disk)
                except EOFError:
                    break
                yield from (Reject(*row) for row in block)
        yield from self._mem
        for part in self._parts:
            yield from part

    @property
    def spilled(self) -> bool:
        return self._disk is not None or any(p.spilled for p in self._parts)

    def dicts(self) -> RejectDicts:
        """The verdict's view of these rejects."""
        return RejectDicts(self)

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        for part in self._parts:
            part.close()
        self._mem, self._own, self._parts = [], 0, []


class RejectDicts(Sequence):
    """A verdict's ``rejects`` (package-format.md "Verdicts"): ``{"table", "file", "line", "field",
    "reason"}`` objects made one at a time from a spool. It compares equal to the list it stands
    for; ``emit_json`` streams it (``__json_stream__``) instead of building one string."""

    def __init__(self, rejects: Iterable[Reject] | None = None) -> None:
        self._rejects = rejects if rejects is not None else RejectSpool()

    def __len__(self) -> int:
        return len(self._rejects)

    def __iter__(self) -> Iterator[dict]:
        return (r.as_dict() for r in self._rejects)

    __json_stream__ = __iter__

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self)[i] if (i.start or 0) < 0 or (i.stop or 0) < 0 else \
                list(itertools.islice(self, i.start, i.stop, i.step))
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return next(itertools.islice(self, i % n, None))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RejectDicts({len(self)} rejects)"
