"""The catalogue against the contract files, and its own consistency (no services)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from dz_assets.catalog import DATA_DIR, FIELD_TYPES, Catalogue, load_catalogue
from dz_assets.ods.ddl import comment_sql, create_table_sql

DAZHOU_COUNTIES = {
    "511702": "通川区", "511703": "达川区", "511722": "宣汉县", "511723": "开江县",
    "511724": "大竹县", "511725": "渠县", "511781": "万源市",
}

# Tables the topic libraries and rule models need in full.
NEEDED_IN_FULL = (
    "HZ_HJRKJBXX", "HZ_HXX", "HZ_QHCXX", "HZ_SWZXHKXX", "HZ_CGJDJZXHKXX",
    "YBSS_SYRKXX", "YBSS_SYFWXX", "YBSS_SYDWJBXX", "YBSS_SYDWDZXX", "YBSS_BZDZCHXX", "YBSS_BZDZMLXX",
    "YBSS_BZDZJLXXX", "YBSS_GAGXXX", "YBSS_XZGXXX", "YBSS_AJXX", "YBSS_JWSXX",
    "ZDR_TDDXJBXX", "ZDR_TDDXSXXX", "ZDR_GARYBJXX", "ZDR_GARYJHRXX", "ZDR_GARYFXPDXX", "ZDR_ZAZDRBQRYXX",
    "ZDR_TDDXRYJZGJXX",
    "EZC_RHZFJBXX", "EZC_RHZFRYXX", "EZC_MDJFFXYHJBXX", "EZC_MDJFFXYHDSRXX", "EZC_MDJFFXYHDZXX",
    "CEY_YLJZJLXX",
    "ZHXQ_ZHXQRYZCXX", "ZHXQ_ZHXQJCXX", "ZHXQ_ZHXQDZXX", "ZHXQ_ZHXQRYJCJLXX", "ZHXQ_ZHXQWZRYJCJL",
    "ZHXQ_ZHXQCLJCJLXX", "ZHXQ_ZHXQXTJCXX", "ZHXQ_ZHXQCJSWYXX",
    "HZ_JLXXX", "HZ_JZWXX", "HZ_JZWDYFWXX", "HZ_DZZJBXX", "HZ_XZQHXX", "HZ_JLXGAGXXX", "HZ_JLXXZGXXX",
)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def contract_fields(shared_spec: Path) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for r in _csv(shared_spec / "catalogue-fields.csv"):
        out.setdefault(r["table_code"], []).append(r)
    return out


# --- tables ---------------------------------------------------------------------------------

def test_tables_are_exactly_the_provincial_list_in_order(cat: Catalogue, shared_spec: Path) -> None:
    expected = [(r["domain_code"], r["domain"], int(r["seq"]), r["table_code"], r["table_name"])
                for r in _csv(shared_spec / "catalogue.csv")]
    got = [(t.domain_code, t.domain, t.seq, t.code, t.name) for t in cat.tables.values()]
    assert len(expected) == 143
    assert got == expected


def test_table_codes_unique_in_data_file() -> None:
    codes = [r["table_code"] for r in _csv(DATA_DIR / "tables.csv")]
    assert len(codes) == len(set(codes)) == 143


def test_fields_only_for_known_tables(cat: Catalogue) -> None:
    assert {r["table_code"] for r in _csv(DATA_DIR / "fields.csv")} == set(cat.tables)


def test_every_table_has_a_key_of_its_own_fields(cat: Catalogue) -> None:
    for t in cat.tables.values():
        assert t.key, t.code
        assert len(set(t.key)) == len(t.key), t.code
        for pos, code in enumerate(t.key, 1):
            f = t.field(code)
            assert f.key == pos, (t.code, code)
            assert f.required, (t.code, code)
        assert [f.code for f in sorted((f for f in t.fields if f.key), key=lambda f: f.key)] == list(t.key)


def test_field_attributes_are_valid(cat: Catalogue) -> None:
    for t in cat.tables.values():
        codes = [f.code for f in t.fields]
        assert len(codes) == len(set(codes)), t.code
        for f in t.fields:
            where = (t.code, f.code)
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", f.code), where
            assert f.name and re.search(r"[\u4e00-\u9fff]", f.name), where
            assert f.type in FIELD_TYPES, where
            assert f.length is None or (f.type == "string" and f.length > 0), where
            if f.type == "code":
                assert f.dict in cat.code_tables, where
            else:
                assert f.dict is None, where


def test_details_and_descriptions(cat: Catalogue, contract_fields: dict) -> None:
    for t in cat.tables.values():
        assert t.detail in ("contract", "full", "minimal"), t.code
        assert len(t.fields) >= 3, t.code
        # grain first: "每…一行：…。"
        assert re.fullmatch(r"每.+?一行：.+。", t.description), t.code
    assert {t.code for t in cat.tables.values() if t.detail == "contract"} == set(contract_fields)


def test_contract_tables_begin_with_the_contract_rows(cat: Catalogue, contract_fields: dict) -> None:
    assert len(contract_fields) == 21
    for code, rows in contract_fields.items():
        t = cat.table(code)
        assert t.detail == "contract"
        head = t.fields[: len(rows)]
        assert len(head) == len(rows), code
        for f, r in zip(head, rows, strict=True):
            assert (f.code, f.name, f.type, f.length, f.required, f.key, f.dict) == (
                r["field_code"], r["field_name"], r["type"],
                int(r["length"]) if r["length"] else None,
                r["required"] == "true",
                int(r["key"]) if r["key"] else None,
                r["dict"] or None,
            ), (code, r["field_code"])
        contract_key = [r["field_code"] for r in sorted((r for r in rows if r["key"]), key=lambda r: int(r["key"]))]
        assert list(t.key) == contract_key, code


@pytest.mark.parametrize("code", NEEDED_IN_FULL)
def test_tables_the_models_need_are_full(cat: Catalogue, code: str) -> None:
    t = cat.table(code)
    assert t.detail in ("full", "contract")
    if t.detail == "full":  # contract tables carry exactly the contract's fields, however few
        assert 8 <= len(t.fields) <= 20


def test_person_tables_carry_gmsfhm_as_idcard(cat: Catalogue) -> None:
    for t in cat.tables.values():
        for f in t.fields:
            if f.code.endswith("GMSFHM"):
                assert f.type == "idcard", (t.code, f.code)


def test_ods_ddl_renders_for_every_table(cat: Catalogue) -> None:
    for t in cat.tables.values():
        ddl = create_table_sql(t).as_string(None)
        assert ddl.startswith(f'create table "ods"."{t.ods_name}" (')
        assert "primary key (" + ", ".join(f'"{c.lower()}"' for c in t.key) + ")" in ddl
        assert len(comment_sql(t)) == len(t.fields) + 1


# --- code tables ----------------------------------------------------------------------------

def test_contract_code_rows_present(cat: Catalogue, shared_spec: Path) -> None:
    for r in _csv(shared_spec / "code-tables.csv"):
        ct = cat.code_tables[r["dict"]]
        assert ct.codes.get(r["code"]) == r["name"], (r["dict"], r["code"])


def test_contract_dicts_keep_exactly_their_codes(cat: Catalogue, shared_spec: Path) -> None:
    contract: dict[str, set[str]] = {}
    for r in _csv(shared_spec / "code-tables.csv"):
        contract.setdefault(r["dict"], set()).add(r["code"])
    for d, codes in contract.items():
        assert set(cat.code_tables[d].codes) == codes, d


def test_code_rows_unique_and_every_dict_named(cat: Catalogue) -> None:
    rows = _csv(DATA_DIR / "code_tables.csv")
    keys = [(r["dict"], r["code"]) for r in rows]
    assert len(keys) == len(set(keys))
    dicts = _csv(DATA_DIR / "dicts.csv")
    assert [d["dict"] for d in dicts] == list(dict.fromkeys(r["dict"] for r in rows))
    for d in dicts:
        assert re.search(r"[\u4e00-\u9fff]", d["name"]), d["dict"]
        assert cat.code_tables[d["dict"]].name == d["name"]


def test_standard_dicts_present(cat: Catalogue) -> None:
    assert {"GB/T 2261.1", "GB/T 3304", "GB/T 4761", "GB/T 2260", "GB/T 2659", "XZJD", "GAJG"} <= set(cat.code_tables)


def test_parents_exist(cat: Catalogue) -> None:
    for ct in cat.code_tables.values():
        # a town's parent is its county in GB/T 2260; other parents are in the same dict
        within = cat.code_tables["GB/T 2260"] if ct.dict == "XZJD" else ct
        for code, parent in ct.parents.items():
            assert parent in within.codes, (ct.dict, code, parent)


def test_sex_and_ethnicity(cat: Catalogue) -> None:
    assert cat.code_tables["GB/T 2261.1"].codes == {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}
    mz = cat.code_tables["GB/T 3304"].codes
    assert [f"{i:02d}" for i in range(1, 57)] + ["97", "98"] == list(mz)
    assert (mz["01"], mz["15"], mz["33"], mz["56"]) == ("汉族", "土家族", "羌族", "基诺族")


def test_family_relations(cat: Catalogue) -> None:
    gx = cat.code_tables["GB/T 4761"].codes
    for code, name in {"01": "本人", "02": "户主", "10": "配偶", "20": "子", "30": "女", "51": "父亲",
                       "52": "母亲", "97": "其他亲属", "99": "非亲属"}.items():
        assert gx[code] == name


def test_divisions(cat: Catalogue) -> None:
    dv = cat.code_tables["GB/T 2260"]
    assert dv.codes["510000"] == "四川省" and "510000" not in dv.parents
    assert dv.codes["511700"] == "达州市" and dv.parents["511700"] == "510000"
    for code, name in DAZHOU_COUNTIES.items():
        assert dv.codes[code] == name and dv.parents[code] == "511700"
    assert {c for c, p in dv.parents.items() if p == "511700"} == set(DAZHOU_COUNTIES)
    # every prefecture of Sichuan, each with counties of its own prefix
    cities = {c for c, p in dv.parents.items() if p == "510000"}
    assert len(cities) == 21
    for city in cities:
        counties = [c for c, p in dv.parents.items() if p == city]
        assert len(counties) >= 2, city
        assert all(c[:4] == city[:4] for c in counties), city
    # some realistic "outside Dazhou" places beyond Sichuan
    assert {"500000", "110000", "310000", "440100", "610100", "420100", "520100"} <= set(dv.codes)
    for code in dv.codes:
        assert re.fullmatch(r"[1-8]\d{5}", code), code
        if code in dv.parents:
            assert code[:2] == dv.parents[code][:2], code


def test_towns_belong_to_dazhou_counties(cat: Catalogue) -> None:
    xz = cat.code_tables["XZJD"]
    assert xz.codes
    for code in xz.codes:
        assert re.fullmatch(r"\d{9}", code), code
        parent = xz.parents[code]
        assert parent in DAZHOU_COUNTIES and code.startswith(parent), code
    for county in DAZHOU_COUNTIES:
        n = sum(1 for p in xz.parents.values() if p == county)
        assert 6 <= n <= 12, county


def test_police_organisations(cat: Catalogue) -> None:
    ga = cat.code_tables["GAJG"]
    assert ga.codes["511700000000"] == "达州市公安局" and "511700000000" not in ga.parents
    for county in DAZHOU_COUNTIES:
        bureau = f"{county}000000"
        assert ga.parents[bureau] == "511700000000", bureau
        stations = [c for c, p in ga.parents.items() if p == bureau]
        assert 4 <= len(stations) <= 10, county
    for code, name in ga.codes.items():
        assert re.fullmatch(r"\d{12}", code), code
        if code.endswith("0000") and not code.endswith("000000"):  # a 派出所
            assert name.endswith("派出所"), code
            parent = ga.parents[code]
            assert parent[:6] in DAZHOU_COUNTIES and parent == f"{code[:6]}000000", code


def test_countries(cat: Catalogue) -> None:
    gj = cat.code_tables["GB/T 2659"].codes
    assert len(gj) >= 30
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in gj)
    assert gj["CHN"] == "中国" and gj["USA"] == "美国"


def test_dazhou_helpers(cat: Catalogue) -> None:
    assert cat.dazhou_counties() == DAZHOU_COUNTIES
    assert cat.towns("511702")["511702001"] == "东城街道"
    stations = cat.police_stations("511702")
    assert stations["511702510000"] == "通川区分局西城派出所"
    assert "511702000000" not in stations and len(stations) >= 4
    assert cat.code_tables["GAJG"].codes[cat.police_bureau("511722")] == "宣汉县公安局"


def test_dbt_sources_declare_exactly_the_tables_the_project_reads(tmp_path):
    """A table no model reads stays out of the dbt lineage graph; one a model reads is declared,
    with the catalogue's description and its Dagster ODS asset key."""
    import yaml

    from dz_assets.catalog.dbt_sources import SOURCES_PATH, render_sources, sources_read

    read = sources_read()
    assert ("ods", "hz_hjrkjbxx") in read and ("meta", "code_table") in read
    doc = yaml.safe_load(render_sources())
    declared = {(s["name"], t["name"]) for s in doc["sources"] for t in s["tables"]}
    assert declared == read
    hukou = next(t for s in doc["sources"] for t in s["tables"] if t["name"] == "hz_hjrkjbxx")
    assert hukou["meta"]["dagster"]["asset_key"] == ["ods", "hz_hjrkjbxx"] and "户籍" in hukou["description"]
    only_one = yaml.safe_load(render_sources(read={("ods", "ybss_ajxx")}))
    assert [[t["name"] for t in s["tables"]] for s in only_one["sources"]] == [["ybss_ajxx"], []]
    assert SOURCES_PATH.read_text(encoding="utf-8") == render_sources(), "run `dzhub dbt sources`"
