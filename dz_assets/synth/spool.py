"""Spooling of one table's BCP files to disk while the city streams by: lines are encoded in
chunks, hashed and counted on the fly and split at ``records_per_file``; only the current
chunk is in memory. The zip is assembled from these files afterwards (a zip member can only be
written one at a time, while the city yields rows of all tables interleaved)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .bcp import line_text

# Buffered characters per table before an encode/write. By size, not lines: 143 tables each
# holding 2,000 lines (the first version) was ~50 MB at 1M persons and grew with the city.
CHUNK_CHARS = 8_192  # × 143 tables: ≤ ~2.5 MB of pending text whatever the size


class _NeedsEscaping(Exception):
    pass


class BcpFile:
    __slots__ = ("name", "path", "records", "sha256", "bytes")

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path, self.records, self.sha256, self.bytes = name, path, 0, "", 0


class TableSpool:
    def __init__(self, table: str, tmpdir: Path, encoding: str = "UTF-8", crlf: bool = False,
                 records_per_file: int = 500_000, mutations=None, file_prefix: str | None = None) -> None:
        self.table = table
        self.tmpdir = tmpdir
        self.codec = "gb18030" if encoding.upper() in ("GB18030", "GBK") else "utf-8"
        self.eol = "\r\n" if crlf else "\n"
        self.rpf = max(1, int(records_per_file))
        self.prefix = file_prefix or table
        self.mutations = mutations or {}  # row number (0-based, whole table) → fn(values) → str|bytes
        self.files: list[BcpFile] = []
        self.rows = 0
        self._buf: list[str] = []
        self._chars = 0
        self._fh = None
        self._sha = None
        self._cur: BcpFile | None = None
        self.mutated: dict[int, tuple[str, int]] = {}  # row number → (file, line)

    def _open(self) -> None:
        name = f"{self.prefix}_{len(self.files) + 1:04d}.bcp"
        f = BcpFile(name, self.tmpdir / name)
        self._fh = f.path.open("wb")
        self._sha = hashlib.sha256()
        self._cur = f
        self.files.append(f)

    def _write(self, data: bytes) -> None:
        self._sha.update(data)
        self._fh.write(data)
        self._cur.bytes += len(data)

    def _flush(self) -> None:
        if self._buf:
            self._write("".join(self._buf).encode(self.codec))
            self._buf.clear()
            self._chars = 0

    def add(self, values: list) -> None:
        if self._cur is None:
            self._open()
        n = self.rows
        if n in self.mutations:
            out = self.mutations[n](values)
            self.mutated[n] = (self._cur.name, self._cur.records + 1)
            if isinstance(out, bytes):
                self._flush()
                self._write(out + self.eol.encode())
            else:
                self._buf.append(out + self.eol)
        else:
            text = line_text(values, self.eol)
            self._buf.append(text)
            self._chars += len(text)
            if self._chars >= CHUNK_CHARS:
                self._flush()
        self.rows = n + 1
        self._cur.records += 1
        if self._cur.records >= self.rpf:
            self._close_file()

    def add_joined(self, text: str, nfields: int) -> None:
        """Fast path for rows without planted defects: ``text`` is the values joined by TAB,
        NULL as empty. Escaping is only done when the text shows a special character."""
        if "\\" in text or "\n" in text or "\r" in text or text.count("\t") != nfields - 1:
            raise _NeedsEscaping
        if self._cur is None:
            self._open()
        self._buf.append(text + self.eol)
        self._chars += len(text)
        if self._chars >= CHUNK_CHARS:
            self._flush()
        self.rows += 1
        self._cur.records += 1
        if self._cur.records >= self.rpf:
            self._close_file()

    def _close_file(self) -> None:
        if self._cur is not None:
            self._flush()
            self._fh.close()
            self._cur.sha256 = self._sha.hexdigest()
            self._cur = None

    def close(self) -> list[BcpFile]:
        if not self.files:  # a table without rows still gets its (empty) file
            self._open()
        self._close_file()
        return self.files
