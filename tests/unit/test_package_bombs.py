"""Hostile packages in bounded memory: lines longer than any row, decompression bombs, entries that
lie about their size or overlap, indexes that are huge or declare entities. No database."""

from __future__ import annotations

import io

import pytest

from dz_assets.catalog.values import IndexField
from dz_assets.province.reader.bcp import LongLine, iter_line_blocks, line_bound, prove_stream
from dz_assets.province.reader.index import Dataset as IndexDataset

FIELDS = (IndexField("ID", "string", length=4, required=True), IndexField("N", "int"), IndexField("C", "code"))
DS = IndexDataset(table="T", pk=("ID",), fields=FIELDS, files=())


class Endless(io.RawIOBase):
    """``size`` bytes of one line (``head`` then x's), then ``tail``, made as they are read: a
    stream far longer than the test's memory would hold as one line."""

    def __init__(self, head: bytes, size: int, tail: bytes) -> None:
        self.head, self.left, self.tail = head, size, tail
        self.largest = 0

    def read(self, n: int = -1) -> bytes:
        out = self.head
        self.head = b""
        take = min(max(n - len(out), 0), self.left)
        out += b"x" * take
        self.left -= take
        if not self.left and len(out) < n:
            out, self.tail = out + self.tail[: n - len(out)], self.tail[n - len(out):]
        self.largest = max(self.largest, len(out))
        return out


def test_line_bound_sums_the_widest_values():
    # 4 characters of 4 bytes, an int, a code without length, two tabs, the margin
    assert line_bound(FIELDS, 1000) == 16 + 64 + 1000 + 2 + 1024


@pytest.mark.parametrize("chunk", [7, 64, 1000, 1 << 20])
def test_a_long_line_is_one_reject_wherever_blocks_cut(chunk, monkeypatch):
    monkeypatch.setenv("DZ_PKG_MAX_VALUE_BYTES", "100")
    bound = line_bound(FIELDS, 100)
    good = b"A1\t5\tx\n"
    data = good * 3 + b"B2\t7\t" + b"y" * (bound * 3) + b"\n" + good * 2 + b"C3\t" + b"z" * (bound + 1)
    outs = list(prove_stream(io.BytesIO(data), DS, "t.bcp", chunk_bytes=chunk))
    rejects = [r for o in outs for r in o.rejects]
    assert sum(o.total for o in outs) == 7  # the lines as counted for records=
    assert [(r.line, r.field) for r in rejects] == [(4, "C"), (7, "N")]
    assert rejects[0].reason == (f"line longer than {bound} bytes, the longest a T row can be: it passes that at "
                                 f"byte {bound + 1}, in field C; the rest of the line was not read")
    assert sum(len(o.frame) for o in outs) == 5


def test_a_line_just_at_the_bound_is_judged_as_usual(monkeypatch):
    monkeypatch.setenv("DZ_PKG_MAX_VALUE_BYTES", "100")
    bound = line_bound(FIELDS, 100)
    line = b"A1\t5\t" + b"c" * (bound - 5)
    assert len(line) == bound
    outs = list(prove_stream(io.BytesIO(line + b"\n" + line), DS, "t.bcp", chunk_bytes=64))
    assert [r for o in outs for r in o.rejects] == [] and sum(len(o.frame) for o in outs) == 2


def test_a_line_of_a_gigabyte_is_found_in_bounded_memory():
    bound = 4096
    stream = Endless(b"A1\t5\t", 1 << 30, b"\nA2\t6\tq\n")
    items = list(iter_line_blocks(stream, chunk_bytes=1 << 20, max_line=bound))
    assert [type(i) for i in items] == [LongLine, bytes] and items[1] == b"A2\t6\tq\n"
    assert len(items[0].head) == bound + 1 and items[0].head.startswith(b"A1\t5\txxx")
