"""Every column analysts may reach carries a personal-data class, in the one place for its kind:
the catalogue for ODS fields, `meta: {pii: …}` in the model's yml for dbt models. A column
without one fails here, so a new field or model cannot reach the masked views by omission."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from dz_assets.catalog import DATA_DIR, PII_CLASSES, load_catalogue
from dz_assets.security.classify import ods_classes
from dz_assets.settings import PROJECT_ROOT

MODELS = PROJECT_ROOT / "dbt_project" / "models"
MODEL_CLASSES = {"idcard", "name", "phone", "address_detail", "free_text", "json", "none"}


def _model_columns():
    for path in sorted(MODELS.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models", []):
            for column in model.get("columns", []):
                yield path, model["name"], column


def test_every_catalogue_field_is_classified() -> None:
    with (DATA_DIR / "fields.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["pii"] in PII_CLASSES for r in rows)
    cat = load_catalogue()
    for t in cat.tables.values():
        classes = dict(ods_classes(t))
        assert len(classes) == len(t.fields) + 10, t.code  # lineage columns included
        assert classes["_extra"] == "json"


def test_catalogue_classes_follow_the_field_meanings() -> None:
    cat = load_catalogue()
    fields = [f for t in cat.tables.values() for f in t.fields]
    assert all(f.pii == "idcard" for f in fields if f.type == "idcard")
    assert all(f.pii == "name" for f in fields if f.name.endswith("姓名"))
    assert all(f.pii == "phone" for f in fields if f.name.endswith("电话"))
    assert {f.pii for f in fields if f.code in ("HJDZ_DZMC", "JZDZ_DZMC", "QWDXZ")} == {"address_detail"}
    assert {f.pii for f in fields if f.code == "BGXM"} == {"none"}  # 变更项目: not a name


def test_a_field_without_a_class_does_not_load(tmp_path: Path, monkeypatch) -> None:
    import dz_assets.catalog as catalog

    for name in ("tables.csv", "dicts.csv", "code_tables.csv"):
        (tmp_path / name).write_bytes((DATA_DIR / name).read_bytes())
    text = (DATA_DIR / "fields.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[1]["pii"] = ""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (tmp_path / "fields.csv").write_text(out.getvalue(), encoding="utf-8")
    monkeypatch.setattr(catalog, "DATA_DIR", tmp_path)
    catalog.load_catalogue.cache_clear()
    try:
        with pytest.raises(ValueError, match="no personal-data class"):
            catalog.load_catalogue()
    finally:
        catalog.load_catalogue.cache_clear()


def test_every_model_column_has_a_class() -> None:
    columns = list(_model_columns())
    assert len(columns) > 500
    missing = [(p.name, m, c["name"]) for p, m, c in columns
               if ((c.get("meta") or {}).get("pii") or ((c.get("config") or {}).get("meta") or {}).get("pii"))
               not in MODEL_CLASSES]
    assert missing == []


def test_personal_model_columns_are_masked() -> None:
    classes = {c["name"]: c["meta"]["pii"] for _, _, c in _model_columns()}
    assert classes["gmsfhm"] == classes["fzgmsfhm"] == classes["fddbrgmsfhm"] == "idcard"
    assert classes["xm"] == classes["fzxm"] == "name"
    assert classes["hjdz_dzmc"] == "address_detail"
    assert classes["owner_ids"] == "free_text"  # a list of ID numbers
