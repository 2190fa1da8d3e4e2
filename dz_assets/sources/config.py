"""Source configurations (spec/source-config.md): one YAML file per source, loaded and validated.

Every error names the file and the key that is wrong (a dotted path such as ``fields.XM.rules``),
so that ``dzhub sources check`` and the Dagster code location can report a bad file without
letting it stop the others. Nothing here touches a database or the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dz_assets.settings import PROJECT_ROOT, setting

ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,39}")
TARGET_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
CATEGORIES = ("公安", "政务", "社会采集")
KINDS = ("mysql", "postgres", "http", "file")
RULES = ("trim", "upper", "lower", "idcard", "nullif_empty")
PII = ("idcard", "name", "phone", "address_detail")
ROLES = ("dz_engineer", "dz_operator", "dz_analyst", "dz_officer", "dz_redirect", "dz_auditor")
ENTITIES = {"person": "GMSFHM", "address": "DZBM"}
FORMATS = ("csv", "xlsx", "json")
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gb18030"}  # GBK files are read as GB18030

TOP_KEYS = {"id", "name", "category", "owner", "enabled", "schedule", "kind", "connection", "table", "query",
            "key", "cursor", "fields", "roles", "freshness_hours", "sync", "fuse", "records", "paging",
            "format", "encoding", "delimiter"}
FIELD_KEYS = {"from", "rules", "pii", "map", "map_default", "date", "datetime"}
PAGING_KEYS = {"page": {"style", "param", "size_param", "size"},
               "offset": {"style", "param", "size_param", "size"},
               "next": {"style", "path"}}


@dataclass(frozen=True)
class ConfigError:
    """One thing wrong in one file: ``key`` is the dotted path of the offending key."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class SourceConfigError(ValueError):
    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class FieldSpec:
    """How one target field is got from a source record."""

    target: str  # the target code as written (upper case by convention)
    source: str
    rules: tuple[str, ...] = ()
    pii: str | None = None
    map: dict[str, str] | None = None
    map_default: str | None = None
    date: str | None = None
    datetime: str | None = None

    @property
    def column(self) -> str:
        return self.target.lower()

    @property
    def sql_type(self) -> str:
        return "date" if self.date else "timestamptz" if self.datetime else "text"


@dataclass(frozen=True)
class Paging:
    style: str  # page | offset | next
    param: str | None = None
    size_param: str | None = None
    size: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class Fuse:
    entity: str  # person | address
    key: str  # the target field holding the entity's key (GMSFHM / DZBM)
    priority: int


@dataclass(frozen=True)
class SourceConfig:
    id: str
    name: str
    category: str
    owner: str
    kind: str
    file: Path
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    enabled: bool = True
    schedule: str | None = None
    connection: dict[str, Any] = field(default_factory=dict)
    table: str | None = None
    query: str | None = None
    cursor: str | None = None
    roles: tuple[str, ...] = ("dz_engineer",)
    freshness_hours: float | None = None
    sync: str = "incremental"
    fuse: Fuse | None = None
    records: str | None = None
    paging: Paging | None = None
    format: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","

    @property
    def table_name(self) -> str:
        return self.id

    @property
    def url_env(self) -> str | None:
        return self.connection.get("url_env")

    def url(self) -> str:
        """The connection URL of a database source, from its environment variable."""
        value = os.environ.get(self.url_env or "", "")
        if not value:
            raise SourceConfigError([ConfigError(str(self.file), "connection.url_env",
                                                 f"environment variable {self.url_env} is not set")])
        return value

    def headers(self) -> dict[str, str]:
        """HTTP headers with ``{env: VAR}`` values resolved."""
        out = {}
        for k, v in (self.connection.get("headers") or {}).items():
            out[str(k)] = os.environ.get(v["env"], "") if isinstance(v, dict) else str(v)
        return out


def sources_dir() -> Path:
    return Path(setting("DZ_SOURCES_DIR") or str(PROJECT_ROOT / "sources")).expanduser().resolve()


@dataclass(frozen=True)
class Loaded:
    """Every file of a folder: the sources that validated and the errors of those that did not."""

    sources: list[SourceConfig]
    errors: list[ConfigError]
    files: int

    def by_id(self, source_id: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.id == source_id), None)


def load_sources(folder: Path | None = None, *, check_env: bool = True) -> Loaded:
    """Read and validate every ``*.yaml`` of ``folder`` (``DZ_SOURCES_DIR``). A file with errors
    is left out of ``sources`` and its errors listed; an id used twice is an error of the later
    file (in name order). ``check_env``: an unset environment variable is an error too."""
    folder = folder or sources_dir()
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    sources, errors, seen = [], [], {}
    for path in files:
        try:
            cfg = parse_file(path, check_env=check_env)
        except SourceConfigError as exc:
            errors.extend(exc.errors)
            continue
        if cfg.id in seen:
            errors.append(ConfigError(str(path), "id", f"id {cfg.id!r} is already used by {seen[cfg.id]}"))
            continue
        seen[cfg.id] = str(path)
        sources.append(cfg)
    return Loaded(sources, errors, len(files))


def parse_file(path: Path, *, check_env: bool = True) -> SourceConfig:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceConfigError([ConfigError(str(path), "-", f"cannot read: {exc}")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SourceConfigError([ConfigError(str(path), "-", f"not valid YAML: {where}{exc}")]) from exc
    return parse_config(doc, path, check_env=check_env)


def parse_config(doc: Any, path: Path, *, check_env: bool = True) -> SourceConfig:  # noqa: C901
    errs: list[ConfigError] = []
    file = str(path)

    def err(key: str, message: str) -> None:
        errs.append(ConfigError(file, key, message))

    if not isinstance(doc, dict):
        raise SourceConfigError([ConfigError(file, "-", "the file must hold one mapping of keys")])
    for k in doc:
        if k not in TOP_KEYS:
            err(str(k), "unknown key")

    def text(key: str, required: bool = True) -> str | None:
        v = doc.get(key)
        if v is None:
            if required:
                err(key, "missing")
            return None
        if not isinstance(v, str) or not v.strip():
            err(key, "must be a non-empty string")
            return None
        return v

    sid = text("id")
    if sid is not None and not ID_PATTERN.fullmatch(sid):
        err("id", f"{sid!r} does not match [a-z][a-z0-9_]{{1,39}}")
    name, owner = text("name"), text("owner")
    category = text("category")
    if category is not None and category not in CATEGORIES:
        err("category", f"{category!r} is not one of {' | '.join(CATEGORIES)}")
    kind = text("kind")
    if kind is not None and kind not in KINDS:
        err("kind", f"{kind!r} is not one of {' | '.join(KINDS)}")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        err("enabled", "must be true or false")
    schedule = text("schedule", required=False)
    if schedule is not None and not valid_cron(schedule):
        err("schedule", f"{schedule!r} is not a valid cron expression (5 fields)")

    conn = doc.get("connection") or {}
    if not isinstance(conn, dict):
        err("connection", "must be a mapping")
        conn = {}
    table, query = text("table", False), text("query", False)
    if kind in ("mysql", "postgres"):
        _check_keys(conn, {"url_env"}, "connection", err)
        env_name = conn.get("url_env")
        if not isinstance(env_name, str) or not env_name:
            err("connection.url_env", "missing: the environment variable holding the connection URL")
        elif check_env and not os.environ.get(env_name):
            err("connection.url_env", f"environment variable {env_name} is not set")
        elif check_env:
            url = os.environ[env_name]
            scheme = "mysql" if kind == "mysql" else "postgresql"
            if not re.match(rf"{scheme}(\+\w+)?://", url) and not (kind == "postgres" and url.startswith("postgres://")):
                err("connection.url_env", f"{env_name} is not a {scheme}:// URL")
        if (table is None) == (query is None):
            err("table", "give either table or query (one of them)")
        for k in ("records", "paging", "format", "encoding", "delimiter"):
            if k in doc:
                err(k, f"not used by kind {kind}")
    elif kind == "http":
        _check_keys(conn, {"url", "headers"}, "connection", err)
        if not isinstance(conn.get("url"), str) or not re.match(r"https?://", conn.get("url", "")):
            err("connection.url", "missing or not an http(s) URL")
        headers = conn.get("headers") or {}
        if not isinstance(headers, dict):
            err("connection.headers", "must be a mapping")
        else:
            for hk, hv in headers.items():
                if isinstance(hv, dict):
                    if set(hv) != {"env"} or not isinstance(hv.get("env"), str):
                        err(f"connection.headers.{hk}", "a value is a string or {env: VAR}")
                    elif check_env and not os.environ.get(hv["env"]):
                        err(f"connection.headers.{hk}", f"environment variable {hv['env']} is not set")
                elif not isinstance(hv, str | int):
                    err(f"connection.headers.{hk}", "a value is a string or {env: VAR}")
        records = doc.get("records")
        if records is not None and not isinstance(records, str):
            err("records", "must be a dotted path such as data.items")
        for k in ("table", "query", "format", "encoding", "delimiter"):
            if k in doc:
                err(k, f"not used by kind {kind}")
    elif kind == "file":
        _check_keys(conn, {"path"}, "connection", err)
        if not isinstance(conn.get("path"), str) or not conn.get("path"):
            err("connection.path", "missing: a path or glob of the files")
        fmt = doc.get("format")
        if fmt not in FORMATS:
            err("format", f"{fmt!r} is not one of {' | '.join(FORMATS)}")
        enc = doc.get("encoding", "utf-8")
        if str(enc).lower() not in ENCODINGS:
            err("encoding", f"{enc!r} is not utf-8 or gbk")
        delim = doc.get("delimiter", ",")
        if not isinstance(delim, str) or len(delim) != 1:
            err("delimiter", "must be one character")
        for k in ("table", "query", "paging"):
            if k in doc:
                err(k, f"not used by kind {kind}")

    paging = _paging(doc.get("paging"), err) if kind == "http" and doc.get("paging") is not None else None

    key = doc.get("key")
    if isinstance(key, str):
        key = [key]
    if not isinstance(key, list) or not key or not all(isinstance(k, str) and k for k in key):
        err("key", "missing or not a list of source field names")
        key = []
    cursor = text("cursor", required=False)

    fields = _fields(doc.get("fields"), err)
    roles = doc.get("roles", ["dz_engineer"])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        err("roles", "must be a list of role names")
        roles = []
    for i, r in enumerate(roles):
        if r not in ROLES:
            err(f"roles[{i}]", f"{r!r} is not one of {', '.join(ROLES)}")
    fresh = doc.get("freshness_hours")
    if fresh is not None and (isinstance(fresh, bool) or not isinstance(fresh, int | float) or fresh <= 0):
        err("freshness_hours", "must be a positive number of hours")
    sync = doc.get("sync", "incremental")
    if sync not in ("incremental", "full"):
        err("sync", f"{sync!r} is not incremental or full")
    fuse = _fuse(doc.get("fuse"), fields, err) if doc.get("fuse") is not None else None

    if errs:
        raise SourceConfigError(errs)
    return SourceConfig(
        id=sid, name=name, category=category, owner=owner, kind=kind, file=path, key=tuple(key),
        fields=tuple(fields), enabled=enabled, schedule=schedule, connection=dict(conn), table=table,
        query=query, cursor=cursor, roles=tuple(roles), freshness_hours=float(fresh) if fresh else None,
        sync=sync, fuse=fuse, records=doc.get("records"), paging=paging, format=doc.get("format"),
        encoding=ENCODINGS.get(str(doc.get("encoding", "utf-8")).lower(), "utf-8"),
        delimiter=doc.get("delimiter", ","))


def _check_keys(d: dict, allowed: set[str], prefix: str, err) -> None:
    for k in d:
        if k not in allowed:
            err(f"{prefix}.{k}", "unknown key")


def _paging(p: Any, err) -> Paging | None:
    if not isinstance(p, dict) or p.get("style") not in PAGING_KEYS:
        err("paging.style", "paging needs a style: page | offset | next")
        return None
    style = p["style"]
    _check_keys(p, PAGING_KEYS[style], "paging", err)
    if style == "next":
        if not isinstance(p.get("path"), str) or not p["path"]:
            err("paging.path", "missing: the dotted path of the next page's URL")
        return Paging(style, path=p.get("path"))
    for k in ("param", "size_param"):
        if not isinstance(p.get(k), str) or not p[k]:
            err(f"paging.{k}", "missing")
    size = p.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        err("paging.size", "must be a positive whole number")
    return Paging(style, param=p.get("param"), size_param=p.get("size_param"), size=size)


def _fields(raw: Any, err) -> list[FieldSpec]:
    if not isinstance(raw, dict) or not raw:
        err("fields", "missing or empty: a mapping of target field code to {from: …}")
        return []
    out, columns = [], {}
    for target, spec in raw.items():
        at = f"fields.{target}"
        target = str(target)
        if not TARGET_PATTERN.fullmatch(target) or target.startswith("_"):
            err(at, "a target code is letters, digits and _ (not starting with _)")
            continue
        if target.lower() in columns:
            err(at, f"the same column as {columns[target.lower()]}")
        columns[target.lower()] = target
        if not isinstance(spec, dict):
            err(at, "must be a mapping with at least from")
            continue
        _check_keys(spec, FIELD_KEYS, at, err)
        src = spec.get("from")
        if not isinstance(src, str) or not src:
            err(f"{at}.from", "missing: the source field")
        rules = spec.get("rules", [])
        if not isinstance(rules, list):
            err(f"{at}.rules", "must be a list")
            rules = []
        for i, r in enumerate(rules):
            if r not in RULES:
                err(f"{at}.rules[{i}]", f"unknown rule {r!r} (one of {', '.join(RULES)})")
        pii = spec.get("pii")
        if pii is not None and pii not in PII:
            err(f"{at}.pii", f"{pii!r} is not one of {', '.join(PII)}")
        mapping = spec.get("map")
        if mapping is not None and not isinstance(mapping, dict):
            err(f"{at}.map", "must be a mapping of value to code")
            mapping = None
        if "map_default" in spec and mapping is None:
            err(f"{at}.map_default", "needs map")
        date_fmt, dt_fmt = spec.get("date"), spec.get("datetime")
        if date_fmt is not None and dt_fmt is not None:
            err(f"{at}.datetime", "give date or datetime, not both")
        for k, fmt in (("date", date_fmt), ("datetime", dt_fmt)):
            if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
                err(f"{at}.{k}", "must be a strftime format such as %Y-%m-%d")
        out.append(FieldSpec(
            target=target, source=str(src), rules=tuple(str(r) for r in rules), pii=pii,
            map={str(k): str(v) for k, v in mapping.items()} if mapping else None,
            map_default=None if spec.get("map_default") is None else str(spec["map_default"]),
            date=date_fmt, datetime=dt_fmt))
    return out


def _fuse(f: Any, fields: list[FieldSpec], err) -> Fuse | None:
    if not isinstance(f, dict):
        err("fuse", "must be a mapping {entity, key, priority}")
        return None
    _check_keys(f, {"entity", "key", "priority"}, "fuse", err)
    entity = f.get("entity")
    if entity not in ENTITIES:
        err("fuse.entity", f"{entity!r} is not person or address")
        return None
    key = f.get("key", ENTITIES[entity])
    if key != ENTITIES[entity]:
        err("fuse.key", f"a {entity} is merged by {ENTITIES[entity]}")
    if key not in {fs.target for fs in fields}:
        err("fuse.key", f"{key} is not one of the fields")
    prio = f.get("priority")
    if isinstance(prio, bool) or not isinstance(prio, int):
        err("fuse.priority", "must be a whole number (lower wins)")
        prio = 0
    return Fuse(entity, str(key), prio)


_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}


def valid_cron(expr: str) -> bool:
    """A five-field cron expression of numbers, ranges, lists, steps and month/day names."""
    parts = expr.split()
    if len(parts) != 5:
        return False
    for i, part in enumerate(parts):
        lo, hi = _CRON_RANGES[i]
        for item in part.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return False
            if base == "*":
                continue
            ends = base.split("-")
            if len(ends) > 2:
                return False
            for e in ends:
                e = e.lower()
                if i in _CRON_NAMES and e in _CRON_NAMES[i]:
                    continue
                if not e.isdigit() or not lo <= int(e) <= hi:
                    return False
    return True
