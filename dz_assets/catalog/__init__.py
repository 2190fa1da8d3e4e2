"""The provincial table catalogue and the code tables: dz-hub's single source of truth.

Data lives beside this module in ``data/`` (CSV, UTF-8):

- ``tables.csv``: one row per provincial table (the 143 of the province's list, codes kept exactly),
  with its domain, Chinese name, key fields and how fully its fields are described.
- ``fields.csv``: one row per field, in delivery order. For the tables of the contract
  ``catalogue-fields.csv`` its rows are reproduced exactly (more fields may follow them).
- ``code_tables.csv`` / ``dicts.csv``: code values (sex, ethnicity, divisions, police stations …)
  and the dictionaries they belong to.

Loaders, dbt sources, the synthetic city and docs all read it through :func:`load_catalogue`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

FIELD_TYPES = ("string", "int", "decimal", "date", "datetime", "code", "idcard", "file")

# Personal-data class of a field (``fields.csv`` column ``pii``), the one classification masking reads:
# ID numbers, names, phones and address details are masked by their own rule, free text has the ID
# numbers and phones inside it masked, ``none`` is explicitly not personal. Every field carries one:
# a field without it fails to load, so a new field cannot reach the analysts' views by omission.
PII_CLASSES = ("idcard", "name", "phone", "address_detail", "free_text", "none")

# PostgreSQL column type of each package field type (ODS tables). Lengths are checked by the
# loader, not by varchar(n), so that a rejected row says which field and why.
PG_TYPES = {
    "string": "text",
    "int": "bigint",
    "decimal": "numeric",
    "date": "date",
    "datetime": "timestamptz",
    "code": "text",
    "idcard": "text",
    "file": "text",
}

DAZHOU_PREFIX = "5117"  # division codes of Dazhou city and its seven county-level divisions
DAZHOU_CODE = "511700"  # 达州市 in GB/T 2260


@dataclass(frozen=True)
class Field:
    code: str
    name: str
    type: str
    length: int | None = None
    required: bool = False
    key: int | None = None  # position in the table's key, 1-based
    dict: str | None = None  # code table of a ``code`` field
    pii: str = "none"  # one of PII_CLASSES

    @property
    def column(self) -> str:
        return self.code.lower()

    @property
    def pg_type(self) -> str:
        return PG_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    code: str
    name: str
    domain_code: str
    domain: str
    seq: int
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    detail: str  # "contract" (catalogue-fields.csv), "full" or "minimal"
    description: str = ""

    @property
    def ods_name(self) -> str:
        """Relation name in the ``ods`` (and ``raw``) schema."""
        return self.code.lower()

    @property
    def key_fields(self) -> tuple[Field, ...]:
        return tuple(self.field(c) for c in self.key)

    def field(self, code: str) -> Field:
        for f in self.fields:
            if f.code == code:
                return f
        raise KeyError(f"{self.code} has no field {code}")

    def has_field(self, code: str) -> bool:
        return any(f.code == code for f in self.fields)


@dataclass(frozen=True)
class CodeTable:
    dict: str
    name: str
    codes: dict[str, str]  # code -> Chinese name
    parents: dict[str, str]  # code -> parent code (divisions, police stations), where given

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def children(self, parent: str) -> dict[str, str]:
        """The codes whose parent is ``parent`` (code -> name), in file order."""
        return {c: self.codes[c] for c, p in self.parents.items() if p == parent}


@dataclass(frozen=True)
class Catalogue:
    tables: dict[str, Table]  # by table code, in catalogue order
    code_tables: dict[str, CodeTable]  # by dict name

    def table(self, code: str) -> Table:
        try:
            return self.tables[code.upper()]
        except KeyError:
            raise KeyError(f"unknown table code {code!r}") from None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.upper() in self.tables

    def code_table(self, name: str) -> CodeTable:
        return self.code_tables[name]

    def domains(self) -> dict[str, str]:
        return {t.domain_code: t.domain for t in self.tables.values()}

    def dazhou_counties(self) -> dict[str, str]:
        """The seven county-level divisions of Dazhou (GB/T 2260 code -> name)."""
        return self.code_tables["GB/T 2260"].children(DAZHOU_CODE)

    def towns(self, county: str) -> dict[str, str]:
        """The towns and street offices (``XZJD``, 9 digits) of a Dazhou county."""
        return self.code_tables["XZJD"].children(county)

    def police_bureau(self, county: str) -> str:
        """The GAJG code of a Dazhou county's 公安局 / 分局 (the county code + ``000000``)."""
        return f"{county}000000"

    def police_stations(self, county: str) -> dict[str, str]:
        """The 派出所 of a Dazhou county (GAJG code -> name): children of its 公安局 / 分局,
        which itself is a child of 达州市公安局, so "has a parent" alone does not make a station."""
        return self.code_tables["GAJG"].children(self.police_bureau(county))


def _read(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@cache
def load_catalogue() -> Catalogue:
    fields_by_table: dict[str, list[Field]] = {}
    for r in _read("fields.csv"):
        if r.get("pii") not in PII_CLASSES:
            raise ValueError(f"fields.csv: {r['table_code']}.{r['field_code']} has no personal-data class "
                             f"(pii {r.get('pii')!r}, expected one of {', '.join(PII_CLASSES)})")
        fields_by_table.setdefault(r["table_code"], []).append(
            Field(
                code=r["field_code"],
                name=r["field_name"],
                type=r["type"],
                length=int(r["length"]) if r["length"] else None,
                required=r["required"] == "true",
                key=int(r["key"]) if r["key"] else None,
                dict=r["dict"] or None,
                pii=r["pii"],
            )
        )
    tables: dict[str, Table] = {}
    for r in _read("tables.csv"):
        fields = tuple(fields_by_table.get(r["table_code"], ()))
        key = tuple(r["pk"].split(",")) if r["pk"] else ()
        tables[r["table_code"]] = Table(
            code=r["table_code"],
            name=r["table_name"],
            domain_code=r["domain_code"],
            domain=r["domain"],
            seq=int(r["seq"]),
            key=key,
            fields=fields,
            detail=r["detail"],
            description=r.get("description", ""),
        )
    dict_names = {r["dict"]: r["name"] for r in _read("dicts.csv")}
    codes: dict[str, dict[str, str]] = {}
    parents: dict[str, dict[str, str]] = {}
    for r in _read("code_tables.csv"):
        codes.setdefault(r["dict"], {})[r["code"]] = r["name"]
        if r.get("parent"):
            parents.setdefault(r["dict"], {})[r["code"]] = r["parent"]
    code_tables = {
        d: CodeTable(dict=d, name=dict_names.get(d, d), codes=c, parents=parents.get(d, {}))
        for d, c in codes.items()
    }
    return Catalogue(tables=tables, code_tables=code_tables)


def in_dazhou(division_code: str | None) -> bool:
    """True for a division code of Dazhou (``5117…``)."""
    return bool(division_code) and division_code.startswith(DAZHOU_PREFIX)
