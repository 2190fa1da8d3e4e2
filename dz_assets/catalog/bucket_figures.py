"""Reconciliation figures of package-format.md (RECON): per key bucket, the row count and the
XOR of row hashes. Pure functions, shared by the synthetic city (which writes RECON packages)
and the reconciliation side (which computes the same figures from its own tables)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

BUCKETS = 1024


def pk_text(values: Sequence[str | None]) -> str:
    return "|".join("" if v is None else v for v in values)


def row_text(values: Sequence[str | None]) -> str:
    return "\t".join("" if v is None else v for v in values)


def bucket_of(pk: str) -> int:
    return int(hashlib.sha256(pk.encode("utf-8")).hexdigest()[0:4], 16) % BUCKETS


def row_hash(row: str) -> int:
    """The first 8 bytes of sha256(row_text), as an int (XOR-able)."""
    return int.from_bytes(hashlib.sha256(row.encode("utf-8")).digest()[0:8], "big")


class ReconFigures:
    """Running per-bucket figures of one table: flat memory (1024 buckets), any row order."""

    def __init__(self) -> None:
        self.rows = [0] * BUCKETS
        self.xor = [0] * BUCKETS

    def add(self, key_values: Sequence[str | None], values: Sequence[str | None]) -> None:
        b = bucket_of(pk_text(key_values))
        self.rows[b] += 1
        self.xor[b] ^= row_hash(row_text(values))

    @property
    def total(self) -> int:
        return sum(self.rows)

    def lines(self) -> Iterable[str]:
        """``bucket<TAB>rows<TAB>xor_hash`` for every non-empty bucket, in bucket order."""
        for b in range(BUCKETS):
            if self.rows[b]:
                yield f"{b}\t{self.rows[b]}\t{self.xor[b]:016x}\n"


def figures(rows: Iterable[tuple[Sequence[str | None], Sequence[str | None]]]) -> ReconFigures:
    """Figures of (key values, row values) pairs."""
    f = ReconFigures()
    for key, values in rows:
        f.add(key, values)
    return f
