"""dbt sources generated from the catalogue, so dbt never carries a second copy of the field lists.

``dzhub dbt sources`` writes ``dbt_project/models/staging/_sources.yml``; a test fails when the
committed file differs from what the catalogue renders.

Only the tables some model, macro or dbt test reads (``source('ods', 'x')``) are declared: a
declared source nobody reads stands alone in the dbt docs' lineage graph, 140 of them around the
17 the layers use. Every ODS table is still a Dagster asset (from the catalogue, in Python); a
model that starts reading another table needs ``dzhub dbt sources`` (dbt parse names the missing
source until then).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from dz_assets.catalog import Catalogue, load_catalogue
from dz_assets.settings import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt_project"
SOURCES_PATH = DBT_DIR / "models" / "staging" / "_sources.yml"
# Where dbt SQL and yml (unit-test inputs) may call source(); the project's model/macro/test paths.
READERS = ("models", "macros", "tests")
SOURCE_CALL = re.compile(r"""source\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)""")

_LINEAGE_DOCS = {
    "_deleted": "是否已删除（删除的行保留为已删除）",
    "_deleted_at": "删除时间",
    "_valid_from": "当前版本生效时间",
    "_batch_id": "来源批次号（全量/增量包文）",
    "_file": "来源数据文件",
    "_line": "来源文件行号",
    "_msg_id": "来源增量消息编号",
    "_seq": "来源变更序号",
    "_extra": "目录未定义的附加字段（JSON）",
    "_loaded_at": "入库时间",
}

META_TABLES = [
    {"name": "code_table", "description": "每个代码值一行：代码表。",
     "meta": {"dagster": {"asset_key": ["meta", "code_table"]}}},
    {"name": "batch", "description": "每次包文投递一行：数据接收批次。",
     "meta": {"dagster": {"asset_key": ["meta", "batch"]}}},
    {"name": "finding_review", "description": "每条复核结论一行：模型发现的复核（属实、不属实、已整改）。",
     "meta": {"dagster": {"asset_key": ["meta", "finding_review"]}}},
]

HEADER = "# Generated from dz_assets/catalog by `dzhub dbt sources`: do not edit by hand.\n"


def sources_read(dbt_dir: Path = DBT_DIR) -> set[tuple[str, str]]:
    """(source, table) pairs the dbt project reads, from its source() calls."""
    found: set[tuple[str, str]] = set()
    for folder in READERS:
        for path in sorted((dbt_dir / folder).rglob("*")):
            if path.suffix in (".sql", ".yml") and path != SOURCES_PATH:
                found.update(SOURCE_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def render_sources(cat: Catalogue | None = None, read: set[tuple[str, str]] | None = None) -> str:
    cat = cat or load_catalogue()
    read = sources_read() if read is None else read
    tables = []
    for t in cat.tables.values():
        if ("ods", t.ods_name) not in read:
            continue
        columns = [{"name": f.column, "description": f.name} for f in t.fields]
        columns += [{"name": n, "description": d} for n, d in _LINEAGE_DOCS.items()]
        tables.append({
            "name": t.ods_name,
            "description": f"{t.description or t.name}（{t.code}，{t.domain}）",
            "meta": {"table_code": t.code, "domain": t.domain, "key": list(t.key),
                     "dagster": {"asset_key": ["ods", t.ods_name]}},
            "columns": columns,
        })
    doc = {
        "version": 2,
        "sources": [
            {
                "name": "ods",
                "schema": "ods",
                "description": "贴源层（ODS）：省级下发数据按目录建表，每个主键一行的当前状态，含血缘与删除标记。",
                "loaded_at_field": "_loaded_at",
                "tables": tables,
            },
            {
                "name": "meta",
                "schema": "meta",
                "description": "平台元数据：目录、代码表、批次、告警。",
                "tables": [t for t in META_TABLES if ("meta", t["name"]) in read],
            },
        ],
    }
    return HEADER + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


def write_sources(path: Path = SOURCES_PATH) -> bool:
    """Write the sources file; True when it changed."""
    text = render_sources()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
