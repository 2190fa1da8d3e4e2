"""A strict, independent reading of spec/package-format.md, for testing what ``dzhub synth``
writes. It shares nothing with the writer (only the catalogue, the contract's data): every rule
is re-stated here from the spec, so that a misreading on one side shows up as a failure.

``read_package(zip_path)`` returns a ``Report``: the BATCH attributes, the datasets, every
problem found (package level with the verdict code; row rejects and quality flags with table,
file, line, field and reason; schema drift) and, when asked, the parsed rows.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from dz_assets.catalog import load_catalogue

BATCH_ID = re.compile(r"(?P<source>[A-Za-z0-9]+)-(?P<kind>FULL|INCR|RECON)-(?P<date>\d{8})-(?P<nnnn>\d{4})")
INT = re.compile(r"-?[0-9]+")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
IDCARD = re.compile(r"[0-9]{17}[0-9Xx]")
TYPES = {"string", "int", "decimal", "date", "datetime", "code", "idcard", "file"}
W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class Problem:
    level: str  # package | row | flag | drift
    code: str  # verdict code (package), reason (row/flag) or drift kind
    table: str | None = None
    file: str | None = None
    line: int | None = None
    field: str | None = None


@dataclass
class Report:
    batch: dict = field(default_factory=dict)
    datasets: list = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: dict = field(default_factory=dict)  # table → list of (values dict, op, ts)
    objects: dict = field(default_factory=dict)  # path → bytes

    def codes(self, level: str) -> set[str]:
        return {p.code for p in self.problems if p.level == level}

    def at(self, level: str) -> list[Problem]:
        return [p for p in self.problems if p.level == level]


def _date_ok(s: str) -> bool:
    try:
        date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        return len(s) == 8 and s.isdigit()
    except ValueError:
        return False


def _dt_ok(s: str) -> bool:
    if len(s) != 14 or not s.isdigit():
        return False
    try:
        datetime(int(s[:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), int(s[12:14]))
        return True
    except ValueError:
        return False


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            nxt = s[i + 1] if i + 1 < len(s) else ""
            if nxt not in ("t", "n", "r", "\\"):
                raise ValueError("bad escape")
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[nxt])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def id_flag(v: str, regions: set[str], created_day: str) -> str | None:
    total = sum(int(c) * w for c, w in zip(v[:17], W, strict=True))
    if "10X98765432"[total % 11] != v[17].upper():
        return "id_checkdigit"
    if not _date_ok(v[6:14]) or v[6:14] > created_day or v[6:10] < "1880":
        return "id_birth"
    if v[:6] not in regions:
        return "id_region"
    return None


def read_package(zip_path, *, keep_rows: bool = False) -> Report:
    rep = Report()
    zip_path = Path(zip_path)

    def pkg(code: str, file: str | None = None) -> None:
        rep.problems.append(Problem("package", code, file=file))

    marker = zip_path.with_name(zip_path.name + ".ok")
    if not marker.exists():
        pkg("marker_missing")
        return rep
    if marker.read_text().strip() != hashlib.sha256(zip_path.read_bytes()).hexdigest():
        pkg("marker_mismatch")
        return rep
    if not zipfile.is_zipfile(zip_path):
        pkg("not_zip")
        return rep
    with zipfile.ZipFile(zip_path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if "GAB_ZIP_INDEX.xml" not in names:
            pkg("index_missing")
            return rep
        try:
            root = ET.fromstring(zf.read("GAB_ZIP_INDEX.xml").decode("utf-8"))
        except (ET.ParseError, UnicodeDecodeError):
            pkg("index_invalid")
            return rep
        _read(zf, names, root, zip_path, rep, pkg, keep_rows)
    return rep


def _read(zf, names, root, zip_path, rep, pkg, keep_rows) -> None:
    cat = load_catalogue()
    batch = root.find("BATCH")
    m = BATCH_ID.fullmatch(zip_path.name[: -len(".zip")])
    req = ["id", "kind", "source", "division", "created"]
    if root.tag != "MESSAGE" or batch is None or m is None:
        pkg("index_invalid")
        return
    rep.batch = dict(batch.attrib)
    kind = batch.get("kind")
    if kind == "INCR":
        req.append("prev")
    if any(batch.get(a) is None for a in req) or batch.get("id") != m.group(0) or kind != m.group("kind"):
        pkg("index_invalid")
        return
    created = datetime.fromisoformat(batch.get("created"))
    created_day, created_ts = created.strftime("%Y%m%d"), created.strftime("%Y%m%d%H%M%S")
    elements = root.findall("RECON" if kind == "RECON" else "DATASET")
    listed: dict[str, tuple] = {}
    for el in elements:
        attrs = ("table", "pk", "rows", "as_of") if kind == "RECON" else ("table", "pk")
        fields = [(f.get("code"), f.attrib) for f in el.findall("FIELD")]
        files = [(f.get("name"), f.get("records"), f.get("sha256")) for f in el.findall("FILE")]
        if (any(el.get(a) is None for a in attrs) or any(c is None or a.get("type") not in TYPES for c, a in fields)
                or any(None in f for f in files)):
            pkg("index_invalid")
            return
        ds = {"table": el.get("table"), "pk": el.get("pk").split(","), "fields": fields, "files": files,
              "encoding": el.get("encoding", "UTF-8"), "attrs": dict(el.attrib)}
        rep.datasets.append(ds)
        for name, records, sha in files:
            listed[name] = (ds, records, sha)
        if ds["table"] not in cat.tables:
            pkg("unknown_table", ds["table"])
            continue
        t = cat.tables[ds["table"]]
        codes = [c for c, _ in fields]
        if any(k not in codes for k in t.key) or any(k not in codes for k in ds["pk"]):
            pkg("missing_key_field", ds["table"])
        cat_codes = [f.code for f in t.fields]
        if kind != "RECON":
            if set(codes) - set(cat_codes):
                rep.problems.append(Problem("drift", "drift_extra_field", ds["table"]))
            if set(cat_codes) - set(codes):
                rep.problems.append(Problem("drift", "drift_missing_field", ds["table"]))
            common = [c for c in codes if c in cat_codes]
            if common != [c for c in cat_codes if c in codes]:
                rep.problems.append(Problem("drift", "drift_reordered", ds["table"]))
    objects = [n for n in names if n.startswith("files/")]
    others = [n for n in names if not n.startswith("files/") and n not in ("GAB_ZIP_INDEX.xml", "files.tsv")]
    for n in others:
        if n not in listed:
            pkg("file_unlisted", n)
    for n in listed:
        if n not in names:
            pkg("file_missing", n)
    tsv: dict[str, tuple[str, int]] = {}
    if "files.tsv" in names:
        for line in zf.read("files.tsv").decode("utf-8").splitlines():
            path, sha, size = line.split("\t")
            tsv[path] = (sha, int(size))
    elif objects:
        pkg("object_missing", "files.tsv")
    for path, (sha, size) in tsv.items():
        if path not in names:
            pkg("object_missing", path)
            continue
        blob = zf.read(path)
        rep.objects[path] = blob
        if hashlib.sha256(blob).hexdigest() != sha or len(blob) != size:
            pkg("object_checksum", path)
    for n in objects:
        if n not in tsv:
            pkg("file_unlisted", n)
    regions = set(cat.code_tables["GB/T 2260"].codes) if "GB/T 2260" in cat.code_tables else set()
    for name, (ds, records, sha) in listed.items():
        if name not in names:
            continue
        data = zf.read(name)
        if hashlib.sha256(data).hexdigest() != sha:
            pkg("file_checksum", name)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if str(len(lines)) != records:
            pkg("file_records", name)
        if kind == "RECON":
            _recon_file(ds, name, lines, rep, pkg)
        elif ds["table"] in cat.tables:
            _rows(ds, name, lines, kind, cat, tsv, regions, created_day, created_ts, rep, keep_rows)


def _recon_file(ds, name, lines, rep, pkg) -> None:
    total, last = 0, -1
    for raw in lines:
        b, rows, x = raw.decode("ascii").split("\t")
        if not (last < int(b) < 1024) or int(rows) < 1 or not re.fullmatch(r"[0-9a-f]{16}", x):
            pkg("index_invalid", name)  # no verdict code fits better: figures that do not parse
        last, total = int(b), total + int(rows)
        rep.rows.setdefault(ds["table"], []).append((int(b), int(rows), x))
    if total != int(ds["attrs"]["rows"]):
        pkg("file_records", name)


def _rows(ds, name, lines, kind, cat, tsv, regions, created_day, created_ts, rep, keep_rows) -> None:
    table = ds["table"]
    t = cat.tables[table]
    known = {f.code: f for f in t.fields}
    fields = [(c, a, known.get(c)) for c, a in ds["fields"]]
    lead = 2 if kind == "INCR" else 0
    codec = "gb18030" if ds["encoding"].upper() in ("GB18030", "GBK") else "utf-8"
    has_dzbm = any(c == "DZBM" for c, _, _ in fields)
    keys = set()

    def bad(level, reason, line, fcode=None):
        rep.problems.append(Problem(level, reason, table, name, line, fcode))

    for no, raw in enumerate(lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if b"\x00" in raw:
            bad("row", "nul_byte", no, _field_of(raw, b"\x00", fields, lead))
            continue
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            bad("row", "bad_encoding", no, _field_of(raw, None, fields, lead, codec))
            continue
        parts = text.split("\t")
        if len(parts) != len(fields) + lead:
            bad("row", "field_count", no)
            continue
        op, ts = (parts[0], parts[1]) if lead else ("I", None)
        if lead and (op not in ("I", "U", "D") or not _dt_ok(ts)):
            bad("row", "bad_op_ts", no)
            continue
        values, rejected, flags = {}, None, []
        for (code, attrs, _cf), raw_v in zip(fields, parts[lead:], strict=True):
            try:
                v = _unescape(raw_v)
            except ValueError:
                rejected = ("bad_escape", code)
                break
            if v == "":
                values[code] = None
                is_key = code in t.key
                if attrs.get("required") == "true" and (op != "D" or is_key):
                    rejected = ("required_null", code)
                    break
                continue
            values[code] = v
            ty = attrs["type"]
            problem = _type_problem(ty, v, attrs, tsv)
            if problem:
                rejected = (problem, code)
                break
            if ty == "idcard":
                f = id_flag(v, regions, created_day)
                if f:
                    flags.append((f, code))
            elif ty == "code" and attrs.get("dict") in cat.code_tables and v not in cat.code_tables[attrs["dict"]].codes:
                flags.append(("code_unknown", code))
            elif (ty == "date" and v > created_day) or (ty == "datetime" and v > created_ts):
                flags.append(("date_future", code))
        if rejected:
            bad("row", rejected[0], no, rejected[1])
            continue
        for code in ("HJDZ_XZQHDM", "JZDZ_XZQHDM") + (("XZQHDM",) if has_dzbm else ()):
            if values.get(code) and not values[code].startswith("5117"):
                flags.append(("outside_dazhou", code))
        for reason, code in flags:
            bad("flag", reason, no, code)
        if kind == "FULL" and all(c in values for c in t.key):
            k = tuple(values.get(c) for c in t.key)
            if k in keys:
                bad("row", "duplicate_key", no)
            keys.add(k)
        if keep_rows:
            rep.rows.setdefault(table, []).append((values, op, ts))


def _type_problem(ty, v, attrs, tsv) -> str | None:
    if ty == "string":
        n = attrs.get("length")
        return "too_long" if n and len(v) > int(n) else None
    if ty == "int":
        return None if INT.fullmatch(v) and -(2**63) <= int(v) < 2**63 else "bad_int"
    if ty == "decimal":
        return None if DECIMAL.fullmatch(v) else "bad_decimal"
    if ty == "date":
        return None if _date_ok(v) else "bad_date"
    if ty == "datetime":
        return None if _dt_ok(v) else "bad_datetime"
    if ty == "idcard":
        return None if IDCARD.fullmatch(v) else "bad_idcard"
    if ty == "file":
        return None if v.startswith("files/") and v in tsv else "file_unlisted"
    return None


def _field_of(raw: bytes, needle, fields, lead, codec=None):
    """The field holding a NUL byte or an undecodable sequence (for the reject record)."""
    for i, part in enumerate(raw.split(b"\t")):
        if needle is not None and needle in part:
            return fields[i - lead][0] if i >= lead and i - lead < len(fields) else None
        if codec is not None:
            try:
                part.decode(codec)
            except UnicodeDecodeError:
                return fields[i - lead][0] if i >= lead and i - lead < len(fields) else None
    return None
