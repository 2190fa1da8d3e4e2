"""Hostile packages in bounded memory: lines longer than any row, decompression bombs, entries that
lie about their size or overlap, indexes that are huge or declare entities. No database."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from support.province_builder import Dataset, build_package, person_rows
from support.zip_bombs import MEMBER, lying_size_package, overlapping_package

from dz_assets.catalog.values import IndexField
from dz_assets.province.reader.bcp import LongLine, iter_line_blocks, line_bound, prove_stream
from dz_assets.province.reader.index import Dataset as IndexDataset
from dz_assets.province.reader.index import parse_index
from dz_assets.province.reader.package import open_package
from dz_assets.province.reader.verdict import check_verdict

BATCH = "SCGA-FULL-20261120-0001"
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


def _entries_problems(path):
    pkg = open_package(path)
    return [(p.code, p.file) for p in pkg.problems], pkg


def test_a_ratio_bomb_is_refused_before_anything_is_inflated(tmp_path):
    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(3))])
    with zipfile.ZipFile(b.zip_path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("HZ_HJRKJBXX_0002.bcp", b"\0" * (64 << 20))  # 64 MiB in ~64 KiB
    b.marker_path.write_text(hashlib.sha256(b.zip_path.read_bytes()).hexdigest())
    found, pkg = _entries_problems(b.zip_path)
    assert found == [("not_zip", "HZ_HJRKJBXX_0002.bcp")] and pkg.index is None
    assert "DZ_PKG_MAX_RATIO" in pkg.problems[0].message


def test_entries_over_the_member_and_total_limits(tmp_path, monkeypatch):
    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(200), files=2)])
    monkeypatch.setenv("DZ_PKG_MAX_MEMBER_BYTES", "10000")  # each file has ~13 000 bytes
    found, _ = _entries_problems(b.zip_path)
    assert found == [("not_zip", "HZ_HJRKJBXX_0001.bcp"), ("not_zip", "HZ_HJRKJBXX_0002.bcp")]
    monkeypatch.setenv("DZ_PKG_MAX_MEMBER_BYTES", "10000000")
    monkeypatch.setenv("DZ_PKG_MAX_TOTAL_BYTES", "20000")
    found, _ = _entries_problems(b.zip_path)
    assert found == [("not_zip", b.zip_path.name)]
    monkeypatch.setenv("DZ_PKG_MAX_MEMBERS", "2")
    found, pkg = _entries_problems(b.zip_path)
    assert found == [("not_zip", b.zip_path.name)] and "declares 3 entries" in pkg.problems[0].message


@pytest.mark.parametrize(("declared", "says"), [(1000, "goes on past the 1000 bytes"), (None, "ends after")])
def test_an_entry_that_lies_about_its_size_is_refused_naming_it(tmp_path, declared, says):
    actual = 2 << 20
    path = lying_size_package(tmp_path, BATCH, actual=actual, declared=declared or actual // 150 * 150 + 999_999)
    v = check_verdict(path).as_json()
    assert [(e["code"], e["file"]) for e in v["errors"]] == [("not_zip", MEMBER)]
    assert says in v["errors"][0]["message"] and v["rows"]["total"] == 0


def test_overlapping_entries_are_refused(tmp_path):
    found, pkg = _entries_problems(overlapping_package(tmp_path, BATCH))
    assert found == [("not_zip", "HZ_HJRKJBXX_0001.bcp")] and "overlaps" in pkg.problems[0].message


def test_a_huge_index_is_not_read(tmp_path, monkeypatch):
    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(3))])
    monkeypatch.setenv("DZ_PKG_MAX_INDEX_BYTES", "200")
    found, pkg = _entries_problems(b.zip_path)
    assert found == [("index_invalid", "GAB_ZIP_INDEX.xml")] and "DZ_PKG_MAX_INDEX_BYTES" in pkg.problems[0].message


def test_an_index_with_entities_is_refused_unexpanded():
    ents = '<!ENTITY a0 "' + "x" * 1000 + '">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 12))
    doc = f'<?xml version="1.0"?><!DOCTYPE MESSAGE [{ents}]><MESSAGE><BATCH id="&a11;"/></MESSAGE>'
    index, problems = parse_index(doc.encode())
    assert index is None and [p.code for p in problems] == ["index_invalid"] and "DOCTYPE" in problems[0].message


def test_an_object_of_the_wrong_size_is_not_inflated(tmp_path):
    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(3, photo=True))],
                      objects={"files/p0.jpg": b"\xff\xd8photo"})
    with zipfile.ZipFile(b.zip_path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["files.tsv"] = members["files.tsv"].replace(b"\t7\n", b"\t8\n")  # the object has 7
    with zipfile.ZipFile(b.zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    pkg = open_package(b.zip_path, b.marker_path)
    assert [(p.code, p.file) for p in pkg.problems if p.code != "marker_mismatch"] == [
        ("object_checksum", "files/p0.jpg")]
    assert pkg.problems[-1].message == "files/p0.jpg: 7 bytes; files.tsv says 8 bytes"


def test_entries_compressed_otherwise_than_deflate_are_refused(tmp_path):
    """zipfile inflates bzip2 and LZMA without bounding one read's output."""
    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(3))])
    with zipfile.ZipFile(b.zip_path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(b.zip_path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d, zipfile.ZIP_BZIP2 if n.endswith(".bcp") else zipfile.ZIP_DEFLATED)
    found, pkg = _entries_problems(b.zip_path)
    assert found == [("marker_mismatch", b.marker_path.name), ("not_zip", MEMBER)]
    assert "compression method 12" in pkg.problems[1].message
