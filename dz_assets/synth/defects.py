"""Defects a package can be asked to carry, named by the verdict code or row reason they must
produce (package-format.md, "What counts as broken"), and the record of what was planted.

Package level (the whole package must be refused with that code): ``marker_missing``,
``marker_mismatch``, ``not_zip``, ``index_missing``, ``index_invalid`` (malformed XML; variants
``index_invalid:attr`` without BATCH@source and ``index_invalid:id`` whose BATCH id disagrees
with the file name), ``file_missing``, ``file_unlisted`` (variant ``file_unlisted:object``: an
object under files/ that files.tsv does not list), ``file_checksum``, ``file_records``,
``unknown_table``, ``missing_key_field``, ``object_missing``, ``object_checksum``.

Row level (that one row rejected, the rest loads), quality flags (row loaded and flagged) and
schema drift (recorded on the batch): see ``ROW_DEFECTS``, ``FLAG_DEFECTS``, ``DRIFT_DEFECTS``.
Row defects keep the declared records and hashes consistent: they are not package problems.
Each planted defect is one dict in ``Plan.planted``: defect, level, code/reason, table, file,
line (1-based within the file), field.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

from dz_assets.catalog import Field, load_catalogue
from dz_assets.catalog.idcard import check_digit

from .bcp import escape, line_text

PACKAGE_DEFECTS = (
    "marker_missing", "marker_mismatch", "not_zip", "index_missing", "index_invalid",
    "index_invalid:attr", "index_invalid:id", "file_missing", "file_unlisted", "file_unlisted:object",
    "file_checksum", "file_records", "unknown_table", "missing_key_field", "object_missing",
    "object_checksum",
)
# defect → (reject reason, field type or code it needs, preferred (table, field))
ROW_DEFECTS = {
    "row_field_count": ("field_count", None, ("HZ_HJRKJBXX", "XM")),
    "row_bad_int": ("bad_int", "int", ("YBSS_BZDZCHXX", "LC")),
    "row_bad_decimal": ("bad_decimal", "decimal", ("YBSS_BZDZMLXX", "ZBX")),
    "row_bad_date": ("bad_date", "date", ("HZ_HJRKJBXX", "CSRQ")),
    "row_bad_datetime": ("bad_datetime", "datetime", ("HZ_HJRKJBXX", "DJSJ")),
    "row_bad_idcard": ("bad_idcard", "idcard", ("HZ_HJRKJBXX", "GMSFHM")),
    "row_required_null": ("required_null", "required", ("HZ_HJRKJBXX", "GMSFHM")),
    "row_too_long": ("too_long", "string", ("HZ_HJRKJBXX", "XM")),
    "row_bad_escape": ("bad_escape", "string", ("HZ_HJRKJBXX", "XM")),
    "row_bad_encoding": ("bad_encoding", "string", ("HZ_HJRKJBXX", "XM")),
    "row_nul_byte": ("nul_byte", "string", ("HZ_HJRKJBXX", "XM")),
    "row_file_unlisted": ("file_unlisted", "file", ("HZ_HJRKJBXX", "XP")),
}
FLAG_DEFECTS = {
    "flag_id_checkdigit": ("id_checkdigit", "idcard", ("HZ_HJRKJBXX", "GMSFHM")),
    "flag_id_region": ("id_region", "idcard", ("HZ_HJRKJBXX", "GMSFHM")),
    "flag_id_birth": ("id_birth", "idcard", ("HZ_HJRKJBXX", "GMSFHM")),
    "flag_code_unknown": ("code_unknown", "code", ("HZ_HJRKJBXX", "RYZTDM")),
    "flag_date_future": ("date_future", "date", ("HZ_HJRKJBXX", "CSRQ")),
    "flag_outside_dazhou": ("outside_dazhou", "division", ("HZ_HJRKJBXX", "HJDZ_XZQHDM")),
}
DRIFT_DEFECTS = ("drift_extra_field", "drift_missing_field", "drift_reordered")
ALL_DEFECTS = PACKAGE_DEFECTS + tuple(ROW_DEFECTS) + tuple(FLAG_DEFECTS) + DRIFT_DEFECTS
UNKNOWN_TABLE = "XX_WZBXX"
EXTRA_FIELD = Field("KZZD", "扩展字段", "string", 20)


class Plan:
    """What to break in one package, and the record of what was broken where."""

    def __init__(self, names, kind: str, want: list[str], date: str, encoding: str = "UTF-8") -> None:
        self.names = list(dict.fromkeys(names))
        bad = [n for n in self.names if n not in ALL_DEFECTS]
        if bad:
            raise ValueError(f"unknown defect(s) {bad}; known: {', '.join(ALL_DEFECTS)}")
        self.kind, self.want, self.date = kind, want, date
        self.codec = "gb18030" if encoding.upper() in ("GB18030", "GBK") else "utf-8"
        self.offset = 2 if kind == "INCR" else 0
        self.cat = load_catalogue()
        self.planted: list[dict] = []
        self._rows: dict[str, dict[int, tuple[str, str]]] = {}  # table → row → (defect, field)
        self.needs_object = any(n in self.names for n in ("object_missing", "object_checksum", "file_unlisted:object"))
        self.first_file: str | None = None
        if kind == "RECON" and any(n not in ("marker_missing", "marker_mismatch", "not_zip", "index_missing",
                                              "index_invalid", "index_invalid:attr", "index_invalid:id",
                                              "file_missing", "file_checksum", "file_records") for n in self.names):
            raise ValueError("RECON packages take only marker, zip, index and file defects")
        self._drift_table = self._pick_table(("HZ_HJRKJBXX",))
        for n in self.names:
            if n in PACKAGE_DEFECTS:
                code = n.split(":")[0]
                self.planted.append({"defect": n, "level": "package", "code": code, "file": None})
            elif n in DRIFT_DEFECTS:
                self.planted.append({"defect": n, "level": "drift", "table": self._drift_table})
        for i, n in enumerate(x for x in self.names if x in ROW_DEFECTS or x in FLAG_DEFECTS):
            reason, need, (table, fcode) = ROW_DEFECTS.get(n) or FLAG_DEFECTS[n]
            table, fcode = self._target(table, fcode, need)
            self._rows.setdefault(table, {})[1 + 2 * i] = (n, fcode)
            level = "row" if n in ROW_DEFECTS else "flag"
            self.planted.append({"defect": n, "level": level, "reason": reason, "table": table,
                                 "file": None, "line": None, "field": None if n == "row_field_count" else fcode})

    # -- choosing targets ---------------------------------------------------------------------
    def _pick_table(self, preferred) -> str | None:
        for t in preferred:
            if t in self.want:
                return t
        return self.want[0] if self.want else None

    def _target(self, table: str, fcode: str, need) -> tuple[str, str]:
        if table in self.want and self.cat.tables[table].has_field(fcode):
            return table, fcode
        for code in self.want:
            for f in self.cat.tables[code].fields:
                if f.key:
                    continue
                if need in (None, f.type) or (need == "required" and f.required) or (
                        need == "division" and f.dict == "GB/T 2260"):
                    return code, f.code
        raise ValueError(f"no table of this package has a field for {need or 'any'} defects")

    # -- layout and rows ----------------------------------------------------------------------
    def layout(self, table) -> tuple[list[Field], list[str], str | None]:
        """The FIELDs declared for ``table`` and the row codes written, after drift defects."""
        fields = list(table.fields)
        extra = None
        if table.code == self._drift_table:
            if "drift_extra_field" in self.names:
                fields.append(EXTRA_FIELD)
                extra = EXTRA_FIELD.code
            plain = [f for f in fields if not f.key and not f.required and f.type != "file" and f is not EXTRA_FIELD]
            if "drift_missing_field" in self.names:
                fields.remove(plain[-1])
            if "drift_reordered" in self.names:
                i, j = fields.index(plain[0]), fields.index(plain[1])
                fields[i], fields[j] = fields[j], fields[i]
        if "missing_key_field" in self.names and table.code == self._pick_table(("HZ_HJRKJBXX",)):
            fields = [f for f in fields if f.code != table.key[0]]
        return fields, [f.code for f in fields], extra

    def mutations(self, table: str, layout) -> dict:
        out = {}
        for row, (name, fcode) in self._rows.get(table, {}).items():
            pos = (layout[1].index(fcode) if fcode in layout[1] else len(layout[1]) - 1) + self.offset
            out[row] = self._mutator(name, pos)
        return out

    def _mutator(self, name: str, pos: int):
        codec = self.codec

        def set_value(value):
            return lambda vals: line_text(vals[:pos] + [value(vals[pos])] + vals[pos + 1:], "")

        def reid(region=None, birth=None):
            def f(v):
                first = (region or v[:6]) + (birth or v[6:14]) + v[14:17]
                return first + check_digit(first)
            return f

        def raw(field_text: str | None = None, field_bytes: bytes | None = None):
            def f(vals):
                parts = [escape(v) for v in vals]
                if field_bytes is not None:
                    head = "\t".join(parts[:pos] + [parts[pos][:1]]).encode(codec)
                    tail = "\t".join([parts[pos][1:]] + parts[pos + 1:]).encode(codec)
                    return head + field_bytes + tail
                parts[pos] = field_text
                return "\t".join(parts)
            return f

        other = sorted(c for c in self.cat.code_tables.get("GB/T 2260").codes if not c.startswith("5117")) \
            if "GB/T 2260" in self.cat.code_tables else ["510104"]
        return {
            "row_field_count": lambda vals: line_text(vals[:-1], ""),
            "row_bad_int": set_value(lambda v: "3层"),
            "row_bad_decimal": set_value(lambda v: "107.5.1"),
            "row_bad_date": set_value(lambda v: self.date[:4] + "0230"),
            "row_bad_datetime": set_value(lambda v: self.date + "256100"),
            "row_bad_idcard": set_value(lambda v: "51170219X0010112A4"),
            "row_required_null": set_value(lambda v: None),
            "row_too_long": set_value(lambda v: "长" * 201),
            "row_bad_escape": raw(field_text="张\\q三"),
            "row_bad_encoding": raw(field_bytes=b"\xff\xfe"),
            "row_nul_byte": set_value(lambda v: "张\x00三"),
            "row_file_unlisted": set_value(lambda v: "files/XP/NOT_LISTED.png"),
            "flag_id_checkdigit": set_value(lambda v: v[:17] + ("0" if check_digit(v[:17]) != "0" else "1")),
            "flag_id_region": set_value(reid(region="990101")),
            "flag_id_birth": set_value(reid(birth=self.date[:4] + "0230")),
            "flag_code_unknown": set_value(lambda v: "88"),
            "flag_date_future": set_value(lambda v: _plus_days(self.date, 30)),
            "flag_outside_dazhou": set_value(lambda v: "510104" if "510104" in other else other[0]),
        }[name]

    def record_lines(self, table: str, mutated: dict[int, tuple[str, int]]) -> None:
        for row, (name, _) in self._rows.get(table, {}).items():
            if row in mutated:
                for p in self.planted:
                    if p["defect"] == name:
                        p["file"], p["line"] = mutated[row]

    def check_applied(self) -> None:
        missing = [p["defect"] for p in self.planted if p["level"] in ("row", "flag") and p["line"] is None]
        if missing:
            raise ValueError(f"too few rows to plant {missing}: use a bigger city or include the target tables")

    # -- package-level ------------------------------------------------------------------------
    def extra_datasets(self, tmp: Path, encoding: str, crlf: bool) -> list[dict]:
        if "unknown_table" not in self.names:
            return []
        name = f"{UNKNOWN_TABLE}_0001.bcp"
        eol = "\r\n" if crlf else "\n"
        lead = "I\t20261120000000\t" if self.kind == "INCR" else ""
        data = f"{lead}WZ0001{eol}{lead}WZ0002{eol}".encode()
        (tmp / name).write_bytes(data)
        self._mark("unknown_table", name)
        return [{"table": UNKNOWN_TABLE, "name": "未知表", "encoding": encoding.upper(), "pk": "BH",
                 "fields": [Field("BH", "编号", "string", 32, True, 1)],
                 "files": [(name, 2, hashlib.sha256(data).hexdigest())], "paths": [tmp / name]}]

    def _mark(self, defect: str, file: str | None) -> None:
        for p in self.planted:
            if p["defect"] == defect:
                p["file"] = file

    def index_datasets(self, datasets: list[dict]) -> list[dict]:
        out = [dict(ds, files=list(ds["files"])) for ds in datasets]
        first = next((ds for ds in out if ds["files"] and ds["files"][0][1] > 0), out[0] if out else None)
        if first is not None:
            self.first_file = first["files"][0][0]
            name, records, sha = first["files"][0]
            if "file_checksum" in self.names:
                first["files"][0] = (name, records, hashlib.sha256(b"not these bytes").hexdigest())
                self._mark("file_checksum", name)
            if "file_records" in self.names:
                first["files"][0] = (name, records + 1, sha)
                self._mark("file_records", name)
        if "missing_key_field" in self.names:
            self._mark("missing_key_field", None)
        return out

    def index_text(self, text: str, batch_id: str) -> bytes | None:
        if "index_missing" in self.names:
            return None
        if "index_invalid" in self.names:
            text = text.replace("</MESSAGE>", "</MESSAG")
        if "index_invalid:attr" in self.names:
            text = text.replace(' source="', ' xsource="', 1)
        if "index_invalid:id" in self.names:
            text = text.replace(f'id="{batch_id}"', f'id="{batch_id[:-4]}9999"', 1)
        return text.encode("utf-8")

    def members(self, members: list) -> list:
        out = list(members)
        if "file_missing" in self.names and out:
            target = next((m for m in out if m[0] == self.first_file), out[0])
            out.remove(target)
            self._mark("file_missing", target[0])
        if "file_unlisted" in self.names and out:
            name = out[0][0].rsplit("_", 1)[0] + "_9999.bcp"
            out.append((name, out[0][1]))
            self._mark("file_unlisted", name)
        return out

    def tsv_line(self, i: int, path: str, sha: str, size: str) -> str:
        if i == 0 and "object_checksum" in self.names:
            sha = hashlib.sha256(b"other bytes").hexdigest()
            self._mark("object_checksum", path)
        if i == 0 and "object_missing" in self.names:
            self._mark("object_missing", path)
        return f"{path}\t{sha}\t{size}\n"

    def keep_object(self, i: int) -> bool:
        return not (i == 0 and "object_missing" in self.names)

    def extra_objects(self) -> list[tuple[str, bytes]]:
        if "file_unlisted:object" in self.names:
            self._mark("file_unlisted:object", "files/XP/UNLISTED.png")
            return [("files/XP/UNLISTED.png", b"\x89PNG\r\n\x1a\nunlisted")]
        return []

    def finish_zip(self, zip_path: Path) -> str:
        if "not_zip" in self.names:
            zip_path.write_bytes(b"this is not a zip archive\n" * 8)
        h = hashlib.sha256()
        with zip_path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    def write_marker(self, marker: Path, sha: str) -> None:
        if "marker_missing" in self.names:
            marker.unlink(missing_ok=True)
            return
        if "marker_mismatch" in self.names:
            sha = hashlib.sha256(b"a different zip").hexdigest()
        marker.write_text(sha + "\n", encoding="ascii")


def _plus_days(d: str, n: int) -> str:

    return (date(int(d[:4]), int(d[4:6]), int(d[6:])) + timedelta(days=n)).strftime("%Y%m%d")
