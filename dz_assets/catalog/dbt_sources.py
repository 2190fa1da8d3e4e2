"""dbt sources generated from the catalogue, so dbt never carries a second copy of the field lists.

``dzhub dbt sources`` writes ``dbt_project/models/staging/_sources.yml``; a test fails when the
committed file differs from what the catalogue renders.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dz_assets.catalog import Catalogue, load_catalogue
from dz_assets.settings import PROJECT_ROOT

SOURCES_PATH = PROJECT_ROOT / "dbt_project" / "models" / "staging" / "_sources.yml"

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

HEADER = "# Generated from dz_assets/catalog by `dzhub dbt sources`: do not edit by hand.\n"


def render_sources(cat: Catalogue | None = None) -> str:
    cat = cat or load_catalogue()
    tables = []
    for t in cat.tables.values():
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
                "tables": [
                    {"name": "code_table", "description": "每个代码值一行：代码表。",
                     "meta": {"dagster": {"asset_key": ["meta", "code_table"]}}},
                    {"name": "batch", "description": "每次包文投递一行：数据接收批次。",
                     "meta": {"dagster": {"asset_key": ["meta", "batch"]}}},
                ],
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
