"""``GAB_ZIP_INDEX.xml``: the package's index, parsed into plain values (package-format.md).

Parsing never raises for a bad index: it returns the problems it found (``index_invalid``, each
naming the element and the attribute), so that the package verdict lists all of them.
"""

from __future__ import annotations

import pyexpat
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from dz_assets.catalog import FIELD_TYPES
from dz_assets.catalog.values import BEIJING, IndexField

INDEX_NAME = "GAB_ZIP_INDEX.xml"
KINDS = ("FULL", "INCR", "RECON")
ENCODINGS = {"UTF-8": "utf-8", "UTF8": "utf-8", "GB18030": "gb18030", "GBK": "gb18030"}
BATCH_ID_RE = re.compile(r"^(?P<source>[A-Z0-9]+)-(?P<kind>FULL|INCR|RECON)-(?P<date>[0-9]{8})-(?P<no>[0-9]{4})$")


@dataclass(frozen=True)
class Problem:
    """A package-level problem; ``code`` is one of the verdict error codes of the spec."""

    code: str
    message: str
    file: str | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "file": self.file}


@dataclass(frozen=True)
class IndexFile:
    name: str
    records: int
    sha256: str


@dataclass(frozen=True)
class Dataset:
    """A DATASET (or RECON) element: how to read the table's files."""

    table: str
    pk: tuple[str, ...]
    fields: tuple[IndexField, ...]
    files: tuple[IndexFile, ...]
    name: str = ""
    encoding: str = "UTF-8"
    rows: int | None = None  # RECON only
    as_of: str | None = None  # RECON only

    @property
    def codec(self) -> str:
        return ENCODINGS[self.encoding.upper()]

    def field(self, code: str) -> IndexField:
        return next(f for f in self.fields if f.code == code)


@dataclass(frozen=True)
class PackageIndex:
    batch_id: str
    kind: str
    source: str
    division: str
    created: datetime
    seq: int | None = None
    prev: str | None = None
    datasets: tuple[Dataset, ...] = ()
    recons: tuple[Dataset, ...] = ()

    @property
    def files(self) -> dict[str, tuple[Dataset, IndexFile]]:
        """Every listed file by name, with its dataset (data files and RECON files)."""
        return {f.name: (d, f) for d in (*self.datasets, *self.recons) for f in d.files}


@dataclass
class _Reader:
    problems: list[Problem] = field(default_factory=list)

    def bad(self, message: str) -> None:
        self.problems.append(Problem("index_invalid", message, INDEX_NAME))

    def need(self, el: ET.Element, attr: str, where: str) -> str:
        value = el.get(attr)
        if value is None or (value.strip() == "" and attr != "prev"):
            self.bad(f"{where} lacks the required attribute {attr!r}")
            return ""
        return value.strip()

    def int_attr(self, el: ET.Element, attr: str, where: str, *, required: bool) -> int | None:
        raw = self.need(el, attr, where) if required else (el.get(attr) or "").strip()
        if raw == "":
            return None
        if not re.fullmatch(r"-?[0-9]+", raw):
            self.bad(f"{where} {attr}={raw!r} is not a whole number")
            return None
        return int(raw)


def parse_created(text: str) -> datetime | None:
    """ISO 8601; a time without an offset is Beijing time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=BEIJING)


def _fields(r: _Reader, el: ET.Element, where: str) -> tuple[IndexField, ...]:
    out = []
    for f in el.findall("FIELD"):
        code = r.need(f, "code", f"{where} FIELD")
        ftype = r.need(f, "type", f"{where} FIELD {code}")
        if ftype and ftype not in FIELD_TYPES:
            r.bad(f"{where} FIELD {code} has unknown type {ftype!r} (expected one of {', '.join(FIELD_TYPES)})")
        out.append(IndexField(code=code, type=ftype, name=f.get("name", ""),
                              length=r.int_attr(f, "length", f"{where} FIELD {code}", required=False),
                              required=(f.get("required") or "").strip().lower() == "true",
                              dict=f.get("dict") or None))
    codes = [f.code for f in out]
    for c in {c for c in codes if codes.count(c) > 1}:
        r.bad(f"{where} declares FIELD {c} more than once")
    return tuple(out)


def _files(r: _Reader, el: ET.Element, where: str) -> tuple[IndexFile, ...]:
    out = []
    for f in el.findall("FILE"):
        name = r.need(f, "name", f"{where} FILE")
        records = r.int_attr(f, "records", f"{where} FILE {name}", required=True)
        sha = r.need(f, "sha256", f"{where} FILE {name}").lower()
        if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
            r.bad(f"{where} FILE {name} sha256={sha!r} is not 64 hex digits")
        out.append(IndexFile(name=name, records=records or 0, sha256=sha))
    return tuple(out)


def _dataset(r: _Reader, el: ET.Element, tag: str) -> Dataset:
    table = r.need(el, "table", tag)
    where = f"{tag} {table}"
    pk = tuple(p.strip() for p in r.need(el, "pk", where).split(",") if p.strip())
    encoding = (el.get("encoding") or "UTF-8").strip()
    if encoding.upper() not in ENCODINGS:
        r.bad(f"{where} encoding={encoding!r} (expected UTF-8 or GB18030)")
        encoding = "UTF-8"
    rows = r.int_attr(el, "rows", where, required=True) if tag == "RECON" else None
    return Dataset(table=table, pk=pk, fields=_fields(r, el, where), files=_files(r, el, where),
                   name=el.get("name", ""), encoding=encoding, rows=rows,
                   as_of=r.need(el, "as_of", where) if tag == "RECON" else None)


class _Doctype(Exception):
    pass


def _has_doctype(data: bytes) -> bool:
    """Whether the document declares a DTD. An index needs none, and a DTD's entities can expand
    a small index into gigabytes (expat bounds the factor, not the size): refused unexpanded,
    the first handler call stops the scan before any declaration in it is read."""
    def stop(*_args: object) -> None:
        raise _Doctype

    p = pyexpat.ParserCreate()
    p.StartDoctypeDeclHandler = stop
    try:
        p.Parse(data, True)
    except _Doctype:
        return True
    except pyexpat.ExpatError:  # not well-formed: ElementTree says where
        return False
    return False


def parse_index(data: bytes, *, expected_batch_id: str | None = None) -> tuple[PackageIndex | None, list[Problem]]:
    """The index, or None with the reasons when it cannot be used."""
    r = _Reader()
    if _has_doctype(data):
        return None, [Problem("index_invalid", f"{INDEX_NAME} declares a DOCTYPE; an index has none (its "
                              "entities are not expanded)", INDEX_NAME)]
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return None, [Problem("index_invalid", f"{INDEX_NAME} is not well-formed XML: {exc}", INDEX_NAME)]
    batch = root.find("BATCH")
    if root.tag != "MESSAGE" or batch is None:
        return None, [Problem("index_invalid", f"{INDEX_NAME}: expected <MESSAGE> with a <BATCH> element", INDEX_NAME)]
    batch_id = r.need(batch, "id", "BATCH")
    kind = r.need(batch, "kind", "BATCH")
    source = r.need(batch, "source", "BATCH")
    division = r.need(batch, "division", "BATCH")
    created_raw = r.need(batch, "created", "BATCH")
    created = parse_created(created_raw) if created_raw else None
    if created_raw and created is None:
        r.bad(f"BATCH created={created_raw!r} is not an ISO 8601 time")
    if kind and kind not in KINDS:
        r.bad(f"BATCH kind={kind!r} (expected FULL, INCR or RECON)")
    m = BATCH_ID_RE.match(batch_id or "")
    if batch_id and not m:
        r.bad(f"BATCH id={batch_id!r} is not <SOURCE>-<KIND>-<YYYYMMDD>-<NNNN>")
    if expected_batch_id and batch_id and batch_id != expected_batch_id:
        r.bad(f"BATCH id={batch_id!r} disagrees with the package file name ({expected_batch_id}.zip)")
    if m and kind and m["kind"] != kind:
        r.bad(f"BATCH kind={kind!r} disagrees with the batch id {batch_id}")
    if m and source and m["source"] != source:
        r.bad(f"BATCH source={source!r} disagrees with the batch id {batch_id}")
    prev = None
    if kind == "INCR":
        prev = r.need(batch, "prev", "BATCH") or None  # present but empty for the source's first INCR
    seq = r.int_attr(batch, "seq", "BATCH", required=False)
    datasets = tuple(_dataset(r, el, "DATASET") for el in root.findall("DATASET"))
    recons = tuple(_dataset(r, el, "RECON") for el in root.findall("RECON"))
    names = [f.name for d in (*datasets, *recons) for f in d.files]
    for n in {n for n in names if names.count(n) > 1}:
        r.bad(f"FILE {n} is listed more than once")
    if r.problems:
        return None, r.problems
    return PackageIndex(batch_id=batch_id, kind=kind, source=source, division=division, created=created,
                        seq=seq, prev=prev, datasets=datasets, recons=recons), []
