"""Tiny provincial packages for the province tests, built to package-format.md by hand.

The synthetic city's ``write_package`` is the real generator; this builder stays small and
explicit so that each test states the one defect it plants.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from dz_assets.catalog import load_catalogue

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def idcard(region: str, birth: str, seq: int) -> str:
    body = f"{region}{birth}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _W, strict=True)) % 11]


def person_rows(n: int, *, start: int = 0, photo: bool = False) -> list[list[str]]:
    """HZ_HJRKJBXX rows in catalogue field order."""
    rows = []
    for i in range(start, start + n):
        birth = f"{1950 + i % 60}{1 + i % 12:02d}{1 + i % 28:02d}"
        rows.append([f"R{i:08d}", idcard("511702", birth, i % 1000), f"张{i}", str(1 + i % 2), "01", birth,
                     f"H{i // 3:06d}", "02", f"DZ{i:010d}", "511702", f"通川区朝阳路{i}号", "1",
                     "20200101120000", "files/p0.jpg" if photo and i == start else ""])
    return rows


def address_rows(n: int) -> list[list[str]]:
    return [[f"DZ{i:010d}", f"通川区朝阳路{i}号", "511702", "511702010000", "1", "", f"{i}号",
             "107.5", "31.2", "20200101120000", ""] for i in range(n)]


@dataclass
class Dataset:
    table: str
    rows: list[list[str]]
    fields: list[tuple] | None = None  # (code, type, length, required); default: the catalogue's
    encoding: str = "UTF-8"
    files: int = 1  # split the rows over this many BCP files

    def field_specs(self) -> list[tuple]:
        if self.fields is not None:
            return self.fields
        t = load_catalogue().table(self.table)
        return [(f.code, f.type, f.length, f.required) for f in t.fields]


@dataclass
class Built:
    batch_id: str
    zip_path: Path
    marker_path: Path
    sha256: str
    rows: dict[str, int] = field(default_factory=dict)


def bcp_line(values: list[str]) -> str:
    return "\t".join(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
                     for v in values)


def build_package(out: Path, batch_id: str, datasets: list[Dataset], *, objects: dict[str, bytes] | None = None,
                  prev: str | None = None, created: str = "2026-11-20T02:00:00+08:00",
                  defect: str | None = None, crlf: bool = False) -> Built:
    """Write ``<batch_id>.zip`` and its marker into ``out``; ``defect`` plants one package-level defect."""
    source, kind = batch_id.split("-")[:2]
    out.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes] = {}
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<MESSAGE version="1">']
    battrs = f'id="{batch_id}" kind="{kind}" source="{source}" division="511700"'
    if defect != "index_invalid":
        battrs += f' created="{created}"'
    if kind == "INCR":
        battrs += f' prev="{prev or ""}"'
    xml.append(f"  <BATCH {battrs}/>")
    counts = {}
    for ds in datasets:
        specs = ds.field_specs()
        table = "HZ_NOSUCHTABLE" if defect == "unknown_table" else ds.table
        key = load_catalogue().table(ds.table).key
        if defect == "missing_key_field":
            specs = [s for s in specs if s[0] not in key]
        xml.append(f'  <DATASET table="{table}" name="x" encoding="{ds.encoding}" pk="{",".join(key)}">')
        for code, typ, length, required in specs:
            a = f'code="{code}" type="{typ}"' + (f' length="{length}"' if length else "")
            a += ' required="true"' if required else ""
            xml.append(f"    <FIELD {a}/>")
        per = max(1, -(-len(ds.rows) // ds.files))
        for n in range(ds.files):
            chunk = ds.rows[n * per:(n + 1) * per]
            eol = "\r\n" if crlf else "\n"
            lead = ["I", "20261121010000"] if kind == "INCR" else []  # INCR: _OP, _TS
            data = "".join(bcp_line(lead + r) + eol for r in chunk).encode(ds.encoding.lower())
            name = f"{ds.table}_{n + 1:04d}.bcp"
            records = len(chunk) + (1 if defect == "file_records" else 0)
            sha = hashlib.sha256(data).hexdigest()
            if defect == "file_checksum":
                sha = "0" * 64
            xml.append(f"    <FILE name={quoteattr(name)} records=\"{records}\" sha256=\"{sha}\"/>")
            if not (defect == "file_missing" and n == 0):
                members[name] = data
        xml.append("  </DATASET>")
        counts[ds.table] = len(ds.rows)
    xml.append("</MESSAGE>")
    if defect != "index_missing":
        members["GAB_ZIP_INDEX.xml"] = "\n".join(xml).encode()
    if defect == "file_unlisted":
        members["HZ_HJRKJBXX_0099.bcp"] = b""
    if objects:
        listing = []
        for member, data in objects.items():
            sha = hashlib.sha256(data).hexdigest()
            listing.append(f"{member}\t{'f' * 64 if defect == 'object_checksum' else sha}\t{len(data)}")
            if defect != "object_missing":
                members[member] = data
        members["files.tsv"] = ("\n".join(listing) + "\n").encode()
    zip_path = out / f"{batch_id}.zip"
    if defect == "not_zip":
        zip_path.write_bytes(b"this is not a zip archive\n")
    else:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    marker = zip_path.with_name(zip_path.name + ".ok")
    if defect != "marker_missing":
        marker.write_text(("0" * 64 if defect == "marker_mismatch" else sha) + "\n")
    return Built(batch_id, zip_path, marker, sha, counts)
