"""Package-level checks (package-format.md, "What counts as broken"): one test per defect, no database."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from support.province_builder import Dataset, address_rows, build_package, person_rows

from dz_assets.province.reader.index import parse_index  # noqa: E402
from dz_assets.province.reader.package import open_package  # noqa: E402
from dz_assets.province.reader.verdict import check_verdict  # noqa: E402

BATCH = "SCGA-FULL-20261120-0001"
VERDICT_CODES = {"marker_missing", "marker_mismatch", "not_zip", "index_missing", "index_invalid", "file_missing",
                 "file_unlisted", "file_checksum", "file_records", "unknown_table", "missing_key_field",
                 "object_missing", "object_checksum", "duplicate_batch"}


def _build(tmp_path: Path, **kw):
    return build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(20, photo=True), files=2),
                                           Dataset("YBSS_BZDZMLXX", address_rows(5))],
                         objects={"files/p0.jpg": b"\xff\xd8photo"}, **kw)


def test_valid_package(tmp_path):
    b = _build(tmp_path)
    pkg = open_package(b.zip_path)
    assert pkg.valid, pkg.problems
    assert (pkg.batch_id, pkg.kind, pkg.source, pkg.sha256) == (BATCH, "FULL", "SCGA", b.sha256)
    assert pkg.index.created.isoformat() == "2026-11-20T02:00:00+08:00"
    ds = pkg.index.datasets[0]
    assert ds.table == "HZ_HJRKJBXX" and ds.pk == ("RYBH",) and [f.records for f in ds.files] == [10, 10]
    assert set(pkg.objects) == {"files/p0.jpg"} and pkg.drift == []


def test_members_read_concurrently_from_one_archive(tmp_path):
    """The loader's two workers read members of one package at once: the archive's directory is
    read once and shared (a 95 000-object package's directory is 54 MiB), each member's bytes
    still exactly its own, and ``close`` releases the archive."""
    import threading

    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", person_rows(6000, photo=True), files=3)],
                      objects={"files/p0.jpg": b"\xff\xd8photo"})
    pkg = open_package(b.zip_path)
    names = [f.name for ds in pkg.index.datasets for f in ds.files]
    with zipfile.ZipFile(b.zip_path) as zf:
        expected = {n: zf.read(n) for n in names}
    got: dict[str, bytes] = {}

    def read(name: str) -> None:
        with pkg.open_member(name) as fh:
            parts = []
            while block := fh.read(997):  # small reads interleave the threads' seeks
                parts.append(block)
        got[name] = b"".join(parts)

    threads = [threading.Thread(target=read, args=(n,)) for n in names * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected and len(names) == 3
    assert pkg.archive() is pkg.archive()
    assert pkg.member_size(names[0]) == len(expected[names[0]])
    pkg.close()
    assert pkg._zip is None
    with pkg.open_member(names[1]) as fh:  # reopened on demand
        assert fh.read() == expected[names[1]]
    pkg.close()

@pytest.mark.parametrize("defect", ["marker_missing", "marker_mismatch", "not_zip", "index_missing",
                                    "index_invalid", "file_missing", "file_unlisted", "file_checksum",
                                    "file_records", "unknown_table", "missing_key_field", "object_missing",
                                    "object_checksum"])
def test_each_package_defect_has_its_code(tmp_path, defect):
    b = _build(tmp_path, defect=defect)
    verdict = check_verdict(b.zip_path).as_json()
    assert verdict["valid"] is False
    codes = {e["code"] for e in verdict["errors"]}
    assert defect in codes and codes <= VERDICT_CODES
    err = next(e for e in verdict["errors"] if e["code"] == defect)
    assert err["message"] and err["file"]


def test_unlisted_object_under_files(tmp_path):
    b = _build(tmp_path)
    with zipfile.ZipFile(b.zip_path, "a") as zf:
        zf.writestr("files/extra.jpg", b"x")
    b.marker_path.write_text(open_package(b.zip_path).sha256)
    errors = check_verdict(b.zip_path).as_json()["errors"]
    assert [(e["code"], e["file"]) for e in errors] == [("file_unlisted", "files/extra.jpg")]


def test_drift_is_recorded_and_only_a_missing_key_breaks(tmp_path):
    fields = [("GMSFHM", "idcard", None, True), ("RYBH", "string", 32, True), ("XM", "string", 50, False),
              ("BYZD", "string", 10, False)]
    rows = [[r[1], r[0], r[2], "extra"] for r in person_rows(3)]
    b = build_package(tmp_path, BATCH, [Dataset("HZ_HJRKJBXX", rows, fields=fields)])
    pkg = open_package(b.zip_path)
    assert pkg.valid
    (d,) = pkg.drift
    assert d["extra"] == ["BYZD"] and "CSRQ" in d["missing"] and d["reordered"] == ["GMSFHM", "RYBH", "XM"]


def _index(batch: str = 'id="SCGA-INCR-20261121-0001" kind="INCR" source="SCGA"', extra: str = "") -> bytes:
    return (f'<MESSAGE version="1"><BATCH {batch} division="511700" created="2026-11-21T02:00:00" {extra}/>'
            '<DATASET table="HZ_HJRKJBXX" pk="RYBH"><FIELD code="RYBH" type="string"/>'
            '<FILE name="HZ_HJRKJBXX_0001.bcp" records="1" sha256="' + "a" * 64 + '"/></DATASET></MESSAGE>').encode()


def test_index_rules():
    idx, problems = parse_index(_index(extra='prev=""'), expected_batch_id="SCGA-INCR-20261121-0001")
    assert problems == [] and idx.prev is None and idx.created.utcoffset().total_seconds() == 8 * 3600
    idx, problems = parse_index(_index(extra='prev="SCGA-INCR-20261120-0002"'))
    assert idx.prev == "SCGA-INCR-20261120-0002"
    _, problems = parse_index(_index())  # INCR without prev
    assert [p.code for p in problems] == ["index_invalid"] and "prev" in problems[0].message
    _, problems = parse_index(_index(extra='prev=""'), expected_batch_id="SCGA-INCR-20261121-0002")
    assert "disagrees with the package file name" in problems[0].message
    _, problems = parse_index(_index('id="SCGA-INCR-20261121-0001" kind="FULL" source="SCGA"'))
    assert any("disagrees with the batch id" in p.message for p in problems)
    _, problems = parse_index(b"<MESSAGE><BATCH")
    assert problems[0].code == "index_invalid" and "well-formed" in problems[0].message


def test_recon_index_is_accepted():
    xml = (b'<MESSAGE version="1"><BATCH id="SCGA-RECON-20261121-0003" kind="RECON" source="SCGA" '
           b'division="511700" created="2026-11-21T02:00:00+08:00"/>'
           b'<RECON table="HZ_HJRKJBXX" pk="RYBH" rows="5" as_of="20261121020000"><FIELD code="RYBH" type="string"/>'
           b'<FILE name="HZ_HJRKJBXX.recon.tsv" records="3" sha256="' + b"b" * 64 + b'"/></RECON></MESSAGE>')
    idx, problems = parse_index(xml)
    assert problems == [] and idx.recons[0].rows == 5 and "HZ_HJRKJBXX.recon.tsv" in idx.files


def test_copy_form_is_binary_unless_a_column_is_numeric():
    """Binary COPY wherever every column has an exact binary form; numeric keeps the text form."""
    from dz_assets.catalog import load_catalogue
    from dz_assets.catalog.values import IndexField
    from dz_assets.province.reader.copy_payload import Payload
    from dz_assets.province.reader.index import Dataset

    cat = load_catalogue()

    def payload(code: str) -> Payload:
        t = cat.table(code)
        fields = tuple(IndexField(code=f.code, type=f.type, length=f.length) for f in t.fields)
        return Payload(Dataset(table=code, pk=t.key, fields=fields, files=()), t)

    person, address = payload("HZ_HJRKJBXX"), payload("YBSS_BZDZMLXX")
    assert person.binary and person.options == "format binary"
    assert person.columns[-2:] == ["_line", "_file"]
    assert not address.binary and any(t == "numeric" for _c, _col, t in address.own)
