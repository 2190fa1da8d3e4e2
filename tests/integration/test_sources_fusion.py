"""Fusion: sources declaring ``fuse`` merge into the 一标三实 entities by priority (lower wins), then
freshness, each attribute with the source and source row it came from."""

from __future__ import annotations

import psycopg
import pytest
from support.sources_fixtures import write_source

from dz_assets.catalog.idcard import make_id
from dz_assets.sources.config import load_sources
from dz_assets.sources.run import run_source
from dz_assets.transform import run_dbt

pytestmark = pytest.mark.integration


def doc(sid: str, path: str, priority: int, phone: bool = False) -> dict:
    fields = {"BH": {"from": "bh"}, "GMSFHM": {"from": "sfzh", "rules": ["idcard"], "pii": "idcard"},
              "XM": {"from": "xm", "pii": "name"}}
    if phone:
        fields["LXDH"] = {"from": "dh", "pii": "phone"}
    return {"id": sid, "name": "融合测试源", "category": "政务", "owner": "测试单位", "kind": "file",
            "connection": {"path": path}, "format": "csv", "key": ["bh"], "fields": fields,
            "roles": ["dz_engineer", "dz_analyst"], "fuse": {"entity": "person", "key": "GMSFHM", "priority": priority}}


def test_survivorship_by_priority_then_freshness_with_lineage(pg_dsn, tmp_path, monkeypatch):
    folder = tmp_path / "sources"
    folder.mkdir()
    monkeypatch.setenv("DZ_SOURCES_DIR", str(folder))
    p1, p2 = make_id("511702", "19800101", 11), make_id("511702", "19800101", 12)
    for name, text in (("a", f"bh,sfzh,xm\n1,{p1},张三\n"),
                       ("b", f"bh,sfzh,xm,dh\n7,{p1},张叁,13800001111\n8,{p2},李四,13900002222\n"),
                       ("c", f"bh,sfzh,xm\n5,{p1},张三丰\n")):
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    write_source(folder, doc("fz_a", str(tmp_path / "a.csv"), 2))
    write_source(folder, doc("fz_b", str(tmp_path / "b.csv"), 3, phone=True))
    write_source(folder, doc("fz_c", str(tmp_path / "c.csv"), 2))
    for sid in ("fz_a", "fz_b", "fz_c"):  # c after a: same priority, fresher
        run_source(load_sources().by_id(sid))
    assert run_dbt(["run", "--quiet", "-s", "+core_fused_person"], pg_dsn, check=False).returncode == 0
    with psycopg.connect(pg_dsn) as conn:
        got = {r[0]: r[1:] for r in conn.execute(
            "select gmsfhm, xm, xm_source, xm_source_key, lxdh, lxdh_source, survivor_source, survivor_position, "
            "survivor_priority, candidate_rows from core.core_fused_person where gmsfhm in (%s, %s)", (p1, p2))}
        masked = conn.execute("select xm, lxdh from masked_core.core_fused_person where gmsfhm_hash = "
                              "meta.pii_hash(%s)", (p2,)).fetchone()
    assert got[p1] == ("张三丰", "fz_c", "5", "13800001111", "fz_b", "fz_c", "c.csv:2 bh=5", 2, 3)
    assert got[p2] == ("李四", "fz_b", "8", "13900002222", "fz_b", "fz_b", "b.csv:3 bh=8", 3, 1)
    assert masked == ("李*", "139****2222")
