"""Row-level proving (package-format.md, "Data files"): one test per row-level defect."""

from __future__ import annotations

import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dz_assets.catalog.idcard import check_digit
from dz_assets.catalog.values import IndexField, check_value, suspect_expr
from dz_assets.province.reader.bcp import iter_line_chunks, prove_chunk, prove_stream
from dz_assets.province.reader.index import Dataset

FIELDS = (
    IndexField("RYBH", "string", length=12, required=True),
    IndexField("GMSFHM", "idcard", required=True),
    IndexField("XM", "string", length=4),
    IndexField("NL", "int"),
    IndexField("SG", "decimal"),
    IndexField("CSRQ", "date"),
    IndexField("DJSJ", "datetime"),
    IndexField("XP", "file"),
)
DS = Dataset(table="HZ_HJRKJBXX", pk=("RYBH",), fields=FIELDS, files=())
ID = "11010519491231002X"
GOOD = ["R1", ID, "张三", "42", "1.75", "19491231", "20261120020000", "files/a.jpg"]
OBJECTS = frozenset({"files/a.jpg"})


def line(values: list[str]) -> str:
    return "\t".join(values)


def prove(lines: list[str] | bytes, ds: Dataset = DS, encoding: str = "utf-8"):
    data = lines if isinstance(lines, bytes) else "".join(x + "\n" for x in lines).encode(encoding)
    return prove_chunk(data, 1, ds, "HZ_HJRKJBXX_0001.bcp", objects=OBJECTS)


def with_value(i: int, value: str) -> list[str]:
    row = list(GOOD)
    row[i] = value
    return row


@pytest.mark.parametrize(("index", "value", "field", "reason"), [
    (3, "4x2", "NL", "is not an int"),
    (3, "99999999999999999999", "NL", "outside 64 bits"),
    (4, "1.", "SG", "is not a decimal"),
    (5, "19490230", "CSRQ", "is not a date"),
    (6, "20261120250000", "DJSJ", "is not a datetime"),
    (6, "20261120235960", "DJSJ", "is not a datetime"),
    (1, "1101051949123100", "GMSFHM", "is not an ID number"),
    (0, "", "RYBH", "required field is empty"),
    (2, "张三李四王", "XM", "longer than its length 4"),
    (2, "a\\qb", "XM", "bad escape"),
    (2, "ab\\", "XM", "bad escape"),
    (7, "files/missing.jpg", "XP", "no entry in files.tsv"),
])
def test_each_row_defect_rejects_only_its_row(index, value, field, reason):
    out = prove([line(GOOD), line(with_value(index, value)), line(with_value(0, "R3"))])
    assert out.total == 3
    assert [(r.line, r.field) for r in out.rejects] == [(2, field)]
    assert reason in out.rejects[0].reason
    assert out.frame["_line"].to_list() == [1, 3]


def test_wrong_field_count():
    out = prove([line(GOOD), line(GOOD[:-1]), line([*GOOD, "x"]), line([*GOOD, ""]), ""])
    assert [(r.line, r.field) for r in out.rejects] == [(2, None), (3, None), (4, None), (5, None)]
    assert "7 fields, expected 8" in out.rejects[0].reason
    assert len(out.frame) == 1


def test_nul_byte_and_undecodable_bytes():
    good = line(GOOD).encode()
    data = good + b"\n" + good.replace(b"R1", b"R\x002") + b"\n" + good.replace("张".encode(), b"\xff\xfe") + b"\n"
    out = prove(data)
    assert [(r.line, r.field) for r in out.rejects] == [(2, "RYBH"), (3, "XM")]
    assert "NUL" in out.rejects[0].reason and "decode" in out.rejects[1].reason
    assert out.rejects[1].raw == data.split(b"\n")[2]  # the raw bytes are kept as delivered
    assert out.frame["_line"].to_list() == [1]


def test_escapes_crlf_and_empty_fields():
    row = with_value(2, "a\\tb")
    row[3] = ""
    data = (line(row) + "\r\n" + line(with_value(2, "\\\\\\n")) + "\r\n").encode()
    out = prove(data)
    assert out.rejects == []
    assert out.frame["XM"].to_list() == ["a\\tb", "\\\\\\n"]  # escapes stay: COPY text reads them
    assert out.frame["NL"].to_list() == [None, "42"]  # an empty field is NULL
    assert out.frame["XP"].to_list() == ["files/a.jpg"] * 2  # the CR is dropped


def test_gb18030_lines():
    ds = Dataset(table=DS.table, pk=DS.pk, fields=FIELDS, files=(), encoding="GB18030")
    out = prove([line(with_value(2, "䶮镕")), line(GOOD)], ds=ds, encoding="gb18030")
    assert out.rejects == [] and out.frame["XM"].to_list() == ["䶮镕", "张三"]


def test_incr_lines_lead_with_op_and_ts():
    rows = [line(["U", "20261121010000", *GOOD]), line(["D", "20261121010000", "R9", "", "", "", "", "", "", ""]),
            line(["X", "20261121010000", *GOOD]), line(["I", "", *GOOD])]
    data = "".join(r + "\n" for r in rows).encode()
    out = prove_chunk(data, 1, DS, "f.bcp", kind="INCR", objects=OBJECTS)
    assert [(r.line, r.field) for r in out.rejects] == [(3, "_OP"), (4, "_TS")]


def test_chunks_cut_at_line_ends_and_keep_numbering():
    rows = [line(with_value(0, f"R{i}")) for i in range(50)] + [line(with_value(3, "bad"))]
    stream = io.BytesIO(("\n".join(rows)).encode())  # no LF after the last line
    chunks = list(iter_line_chunks(stream, chunk_bytes=300))
    assert len(chunks) > 5
    outs = [prove_chunk(d, first, DS, "f.bcp", objects=OBJECTS) for first, d in chunks]
    assert sum(o.total for o in outs) == 51
    assert [r.line for o in outs for r in o.rejects] == [51]
    # prove_stream numbers each block after the lines the previous ones held (a bad line early)
    rows[7] = line(with_value(3, "bad"))
    stream = io.BytesIO(("\n".join(rows)).encode())
    outs = list(prove_stream(stream, DS, "f.bcp", objects=OBJECTS, chunk_bytes=300))
    assert len(outs) > 5 and [r.line for o in outs for r in o.rejects] == [8, 51]
    assert max(n for o in outs for n in o.frame["_line"]) == 50


TYPES = [IndexField("S", "string", length=3, required=True), IndexField("I", "int"), IndexField("D", "decimal"),
         IndexField("T", "date"), IndexField("DT", "datetime"), IndexField("C", "idcard")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789-.X\\tnr9a 张\r", max_size=20), min_size=1, max_size=20))
def test_vectorised_checks_never_miss_a_bad_value(values):
    """suspect_expr must flag every value check_value rejects (it may flag more)."""
    for f in TYPES:
        frame = pl.DataFrame({"v": [v or None for v in values]}, schema={"v": pl.String})
        suspects = frame.select(suspect_expr(f, "v"))["v"].to_list()
        for v, s in zip(values, suspects, strict=True):
            if check_value(f, v) is not None:
                assert s, (f.type, v)


def test_raw_carriage_return_inside_a_line_is_rejected():
    data = (line(with_value(2, "a\rb")) + "\n" + line(GOOD) + "\r\n").encode()
    out = prove(data)
    assert [(r.line, r.field) for r in out.rejects] == [(1, "XM")] and "carriage return" in out.rejects[0].reason


def test_key_fields_are_required_whatever_the_index_says():
    ds = Dataset(table=DS.table, pk=DS.pk, fields=(IndexField("RYBH", "string"), *FIELDS[1:]), files=())
    out = prove([line(with_value(0, ""))], ds=ds)
    assert [(r.line, r.field) for r in out.rejects] == [(1, "RYBH")]


def test_field_counts_that_cancel_out_are_still_caught():
    # One line with an extra empty field, one with a field missing: the chunk's tab total is right.
    out = prove([line(GOOD), line([*GOOD, ""]), line(GOOD[:-1]), line(with_value(0, "R4"))])
    assert [(r.line, r.field) for r in out.rejects] == [(2, None), (3, None)]
    assert out.rejects[0].raw == line([*GOOD, ""]).encode()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=17, max_size=17), min_size=1, max_size=50),
       st.sampled_from("0123456789X"))
def test_vectorised_check_digit_flag_matches_gb11643(bodies, last):
    from dz_assets.province.reader.quality import _idcard_rules

    ids = [b + last for b in bodies]
    rule = _idcard_rules("c", "20261120")[0]
    got = pl.DataFrame({"c": ids}).select(rule.expr)["c"].to_list()
    assert got == [i[17] != check_digit(i[:17]) for i in ids]


def test_a_utf8_bom_is_not_part_of_the_first_key():
    from dz_assets.province.reader.bcp import prove_stream

    data = b"\xef\xbb\xbf" + (line(GOOD) + "\n").encode()
    (chunk,) = list(prove_stream(io.BytesIO(data), DS, "f.bcp", objects=OBJECTS))
    assert chunk.rejects == [] and chunk.frame["RYBH"].to_list() == ["R1"]


PIECES = [b"a", b"\t", b"\n", b"\r\n", b"\r", b"\x00", b"\\", b"\xff", b"\xef\xbb\xbf", "王".encode(), b"R1",
          b"20261120"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=120), st.sampled_from([7, 64, 1 << 20]))
def test_prove_stream_line_totals_are_the_member_checks_data_lines(pieces, chunk_bytes):
    """The FULL loader takes a file's record count from the prover's totals instead of counting
    its line ends again: for any bytes they must equal the package check's count."""
    from dz_assets.province.reader.index import IndexFile
    from dz_assets.province.reader.package import MemberCheck

    data = b"".join(pieces)
    check = MemberCheck(io.BytesIO(data))
    while check.read(1 << 20):
        pass
    totals = sum(c.total for c in prove_stream(io.BytesIO(data), DS, "f.bcp", objects=OBJECTS,
                                               chunk_bytes=chunk_bytes))
    assert totals == check.lines
    uncounted = MemberCheck(io.BytesIO(data), count_lines=False)
    while uncounted.read(1 << 20):
        pass
    f = IndexFile(name="f.bcp", records=check.lines, sha256=check.sha256)
    assert uncounted.problems("f.bcp", f, lines=totals) == []
