"""Source configuration (spec/source-config.md): parsing, and every error naming file and key;
the rules over Arrow columns. No services."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from dz_assets.catalog.idcard import make_id
from dz_assets.sources.config import SourceConfigError, load_sources, parse_config, valid_cron
from dz_assets.sources.transform import idcard_column, normalise_idcard, transform

BASE = {"id": "t_src", "name": "测试", "category": "政务", "owner": "测试单位", "kind": "http",
        "connection": {"url": "http://127.0.0.1:1/x"}, "key": ["id"],
        "fields": {"ID": {"from": "id"}, "GMSFHM": {"from": "sfzh", "rules": ["trim", "idcard"], "pii": "idcard"},
                   "LB": {"from": "lb", "map": {"a": "1"}}, "RQ": {"from": "rq", "date": "%Y/%m/%d"},
                   "SJ": {"from": "sj", "datetime": "%Y-%m-%d %H:%M:%S"}}}


def errors_of(doc) -> set[tuple[str, str]]:
    with pytest.raises(SourceConfigError) as exc:
        parse_config(doc, Path("/x/t.yaml"))
    return {(e.file, e.key) for e in exc.value.errors}


def test_valid_config_parses():
    cfg = parse_config(BASE, Path("/x/t.yaml"))
    assert cfg.id == "t_src" and cfg.key == ("id",) and cfg.sync == "incremental" and cfg.enabled
    assert [f.sql_type for f in cfg.fields] == ["text", "text", "text", "date", "timestamptz"]


@pytest.mark.parametrize("change, key", [
    ({"colour": 1}, "colour"),
    ({"id": "Bad-Id"}, "id"),
    ({"category": "其他"}, "category"),
    ({"kind": "ftp"}, "kind"),
    ({"schedule": "61 * * * *"}, "schedule"),
    ({"paging": {"style": "page", "param": "p", "size": 0, "size_param": "s"}}, "paging.size"),
    ({"paging": {"style": "cursor"}}, "paging.style"),
    ({"sync": "sometimes"}, "sync"),
    ({"roles": ["dz_nobody"]}, "roles[0]"),
    ({"freshness_hours": -1}, "freshness_hours"),
    ({"fuse": {"entity": "person", "key": "GMSFHM", "priority": "high"}}, "fuse.priority"),
    ({"fuse": {"entity": "house", "key": "X", "priority": 1}}, "fuse.entity"),
    ({"table": "t"}, "table"),
])
def test_each_error_names_file_and_key(change, key):
    assert ("/x/t.yaml", key) in errors_of({**BASE, **change})


def test_field_errors_name_the_field():
    doc = {**BASE, "fields": {**BASE["fields"], "XM": {"from": "xm", "rules": ["titlecase"], "pii": "face",
                                                       "extra": 1}}}
    got = errors_of(doc)
    assert {("/x/t.yaml", "fields.XM.rules[0]"), ("/x/t.yaml", "fields.XM.pii"),
            ("/x/t.yaml", "fields.XM.extra")} <= got


def test_database_env_variable_must_be_set(monkeypatch):
    monkeypatch.delenv("DZ_SRC_T_URL", raising=False)
    doc = {**BASE, "kind": "mysql", "connection": {"url_env": "DZ_SRC_T_URL"}, "table": "t"}
    assert ("/x/t.yaml", "connection.url_env") in errors_of(doc)
    parse_config(doc, Path("/x/t.yaml"), check_env=False)  # the Dagster location loads it all the same


def test_bad_yaml_and_duplicate_ids(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(BASE, allow_unicode=True), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(BASE, allow_unicode=True), encoding="utf-8")
    (tmp_path / "c.yaml").write_text("id: [unclosed", encoding="utf-8")
    loaded = load_sources(tmp_path)
    assert [s.id for s in loaded.sources] == ["t_src"]
    assert {(Path(e.file).name, e.key) for e in loaded.errors} == {("b.yaml", "id"), ("c.yaml", "-")}


def test_cron():
    assert valid_cron("0 2 * * *") and valid_cron("*/30 8-18 * * mon-fri")
    assert not valid_cron("0 2 * *") and not valid_cron("0 24 * * *") and not valid_cron("x 2 * * *")


def test_idcard_column_matches_the_scalar_rule():
    ok = make_id("511702", "19900101", 1)
    values = [ok, ok.lower(), ok[:17] + ("0" if ok[17] != "0" else "1"), "511702900101002", None, "",
              "51170219900230001X", make_id("511702", "20000229", 3), "5117021990010100"]
    assert idcard_column(pa.array(values)).to_pylist() == [
        None if v is None else normalise_idcard(v) for v in values]
    assert normalise_idcard("511702900101002").startswith("51170219900101002")  # 15 → 18 digits


def test_transform_rules_map_dates_and_rejects():
    cfg = parse_config(BASE, Path("/x/t.yaml"))
    batch = pa.table({"id": ["1", "2", "3", None],
                      "sfzh": [make_id("511702", "19900101", 1), "bad", make_id("511702", "19900101", 2), "x"],
                      "lb": ["a", "a", "b", "a"], "rq": ["2024/1/5", "2024/01/02", "2024/01/03", None],
                      "sj": ["2024-01-01 08:00:00", None, None, None]})
    out = transform(cfg, batch, pa.array(["p0", "p1", "p2", "p3"]))
    assert out.rows.column("id").to_pylist() == ["1"]
    assert out.rows.column("rq").to_pylist() == [date(2024, 1, 5)]
    assert out.rows.column("sj").to_pylist()[0].replace(tzinfo=None) == datetime(2024, 1, 1, 0, 0)
    assert [(r.position, r.field) for r in out.rejects] == [("p1 id=2", "GMSFHM"), ("p2 id=3", "LB"),
                                                             ("p3 id=", "id")]
