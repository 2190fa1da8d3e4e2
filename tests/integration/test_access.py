"""Access and protection on a small synthetic city, logged in as each group role: what each one
cannot do (read a raw ID number, leave its jurisdiction, reveal outside it, change the audit log),
and that grants, masked views and jurisdictions survive a FULL re-base and a dbt rebuild."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from support.logins import drop_login, login

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.security.reveal import reveal
from dz_assets.synth import write_package
from dz_assets.transform import DBT_PROJECT_DIR, run_dbt

PERSONS = 3000
SEED = 7  # three counties, a police station in each (1 500 persons live in one)
ID_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
DZHUB = str(Path(sys.executable).with_name("dzhub"))


def _dzhub(*args: str, dsn: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"DZ_PG_DSN": dsn} if dsn else {})}
    return subprocess.run([DZHUB, *args], capture_output=True, text=True, env=env, input=stdin)


@pytest.fixture(scope="module")
def access_dsn(pg_server_dsn):
    """A warehouse of this module alone: its city, re-bases and rebuilds must not meet the session
    database's (test_dbt_models loads the same synthetic batch there)."""
    name = f"dzhub_access_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = with_database(pg_server_dsn, name)
    init_database(dsn)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DZ_PG_DSN", dsn)
        yield dsn
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def city(access_dsn, tmp_path_factory):
    out = tmp_path_factory.mktemp("access_city")
    info = write_package(out, persons=PERSONS, seed=SEED)
    loaded = _dzhub("package", "load", str(info.zip_path), "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["status"] == "loaded"
    assert run_dbt(["run", "--quiet"], access_dsn, check=False).returncode == 0
    return out


@pytest.fixture(scope="module")
def owner(access_dsn, city):
    with psycopg.connect(access_dsn, autocommit=True) as conn:
        yield conn


def _ids(owner) -> set[str]:
    """Every ID number the warehouse holds, from every idcard column of the ODS tables."""
    found: set[str] = set()
    for rel, col in owner.execute("select relation, column_name from meta.column_class "
                                  "where schema_name = 'ods' and pii = 'idcard'").fetchall():
        q = sql.SQL("select distinct upper({c}) from ods.{r} where {c} is not null").format(
            c=sql.Identifier(col), r=sql.Identifier(rel))
        found.update(v for (v,) in owner.execute(q))
    return found


def _readable(conn) -> list[str]:
    return [r for (r,) in conn.execute(
        "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'v', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') "
        "and n.nspname not like 'pg_toast%' and has_table_privilege(c.oid, 'select') order by 1")]


def _busiest_station(owner) -> tuple[str, str]:
    """(station, county) with the most residents in core.core_person."""
    return owner.execute("select jz_gajgjgdm, left(jz_gajgjgdm, 6) from core.core_person "
                         "where jz_gajgjgdm is not null group by 1 order by count(*) desc, 1 limit 1").fetchone()


def _hash(owner, id_number: str) -> str:
    """The keyed hash the masked views show beside an ID number (the owner reads the secret)."""
    return owner.execute("select encode(sha256(convert_to((select secret from meta.pii_key) || upper(btrim(%s)), "
                         "'UTF8')), 'hex')", (id_number,)).fetchone()[0]


def _denied(dsn: str, statement: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


# --- analysts -------------------------------------------------------------------------------

def test_analyst_reads_no_raw_id_number_anywhere(access_dsn, owner):
    ids = _ids(owner)
    assert len(ids) > PERSONS
    with login(access_dsn, "dz_analyst") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        relations = _readable(conn)
        assert "masked_core.core_person" in relations and "masked_ods.hz_hjrkjbxx" in relations
        assert not [r for r in relations if r.split(".")[0] in ("ods", "raw", "core", "topic", "element",
                                                               "staging", "serve", "model")]
        leaked = []
        for rel in relations:
            with conn.cursor() as cur:
                cur.execute(f"select * from {rel}")
                names = [d.name for d in cur.description]
                for row in cur:
                    for name, value in zip(names, row, strict=True):
                        if value is None or name.endswith("_hash"):
                            continue
                        leaked += [(rel, name) for t in ID_TOKEN.findall(str(value)) if t.upper() in ids]
        assert leaked == []
        row = conn.execute("select gmsfhm, gmsfhm_hash, xm from masked_core.core_person "
                           "where char_length(gmsfhm) = 18 limit 1").fetchone()
        assert re.fullmatch(r"[0-9]{4}\*{10}[0-9]{3}[0-9X]", row[0]) and len(row[1]) == 64
        assert re.fullmatch(r".\*+", row[2]) or re.fullmatch(r"..\*+", row[2])
    with login(access_dsn, "dz_analyst") as dsn:
        for statement in ("select * from ods.hz_hjrkjbxx limit 1", "select * from raw.any_table",
                          "select * from core.core_person limit 1", "select * from meta.pii_key",
                          "select * from meta.login_scope", "select * from meta.audit"):
            assert _denied(dsn, statement), statement


def test_analyst_can_join_and_count_on_the_keyed_hash(access_dsn, owner):
    with login(access_dsn, "dz_analyst") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        joined = conn.execute("select count(*) from masked_core.core_person p "
                              "join masked_element.elem_person e on e.gmsfhm_hash = p.gmsfhm_hash").fetchone()[0]
    assert joined == owner.execute("select count(*) from core.core_person p "
                                   "join element.elem_person e on e.gmsfhm = p.gmsfhm").fetchone()[0] > 0


def test_station_login_sees_only_its_jurisdiction(access_dsn, owner):
    station, _county = _busiest_station(owner)
    expected = owner.execute("select count(*) from core.core_person "
                             "where %(s)s in (jz_gajgjgdm, hj_gajgjgdm)", {"s": station}).fetchone()[0]
    total = owner.execute("select count(*) from core.core_person").fetchone()[0]
    assert 0 < expected < total
    with login(access_dsn, "dz_analyst", station=station) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select jz_gajgjgdm, hj_gajgjgdm from masked_core.core_person").fetchall()
        assert len(rows) == expected
        assert all(station in r for r in rows)
        # ODS rows by their own station columns; a relation with personal data but no station
        # column shows a bound login nothing
        assert {s for (s,) in conn.execute("select distinct gajgjgdm from masked_ods.ybss_bzdzmlxx")} <= {station}
        assert conn.execute("select count(*) from masked_ods.hz_hjrkjbxx").fetchone()[0] == 0
        # per-station aggregates: its own station's rows; with neither personal data nor a station,
        # the same for everyone
        assert conn.execute("select count(*) from masked_topic.topic_hjgl__by_division").fetchone()[0] == \
            owner.execute("select count(*) from topic.topic_hjgl__by_division where gajgjgdm = %s",
                          (station,)).fetchone()[0] > 0
        plain = owner.execute("select relation from meta.column_class where schema_name = 'topic' group by 1 "
                              "having bool_and(pii = 'none' and column_name <> all (meta.station_columns())) "
                              "order by 1 limit 1").fetchone()[0]
        assert conn.execute(f"select count(*) from masked_topic.{plain}").fetchone()[0] == \
            owner.execute(f"select count(*) from topic.{plain}").fetchone()[0] > 0
    with login(access_dsn, "dz_analyst") as dsn, psycopg.connect(dsn, autocommit=True) as conn:  # unscoped: all
        assert conn.execute("select count(*) from masked_core.core_person").fetchone()[0] == total


def test_county_login_sees_its_stations(access_dsn, owner):
    _station, county = _busiest_station(owner)
    expected = owner.execute("select count(*) from core.core_person "
                             "where left(jz_gajgjgdm, 6) = %(c)s or left(hj_gajgjgdm, 6) = %(c)s",
                             {"c": county}).fetchone()[0]
    with login(access_dsn, "dz_analyst", county=county) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from masked_core.core_person").fetchone()[0] == expected > 0


def test_a_login_scope_change_moves_its_rows(access_dsn, owner):
    """The masked views judge by meta.login_station, which triggers keep from the scope and the
    code table: re-binding a login, or a station leaving the code table, shows at the next query."""
    station, county = _busiest_station(owner)
    by_county = owner.execute("select count(*) from core.core_person where left(jz_gajgjgdm, 6) = %(c)s "
                              "or left(hj_gajgjgdm, 6) = %(c)s", {"c": county}).fetchone()[0]
    with login(access_dsn, "dz_analyst", station=station) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        name = conn.execute("select current_user::text").fetchone()[0]
        by_station = conn.execute("select count(*) from masked_core.core_person").fetchone()[0]
        owner.execute("update meta.login_scope set station = null, county = %s where login = %s", (county, name))
        assert conn.execute("select count(*) from masked_core.core_person").fetchone()[0] == by_county >= by_station
        with owner.transaction():  # the county's stations come from the code table
            owner.execute("delete from meta.code_table where dict = 'GAJG' and code like %s", (county + "%",))
            assert owner.execute("select count(*) from meta.login_station where login = %s",
                                 (name,)).fetchone()[0] == 0
            raise psycopg.Rollback()
        assert owner.execute("select count(*) from meta.login_station where login = %s", (name,)).fetchone()[0] > 0


def test_jurisdiction_holds_against_a_leaky_function(access_dsn, owner):
    """The security barrier: a reader's own function sees only rows of its jurisdiction."""
    station, _ = _busiest_station(owner)
    with login(access_dsn, "dz_analyst", station=station) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create function pg_temp.peek(text) returns boolean language plpgsql cost 0.0001 as "
                     "$$ begin raise notice 'saw %', $1; return true; end $$")
        seen: list[str] = []
        conn.add_notice_handler(lambda d: seen.append(d.message_primary))
        conn.execute("select 1 from masked_core.core_person where pg_temp.peek(coalesce(jz_gajgjgdm, '-') "
                     "|| '/' || coalesce(hj_gajgjgdm, '-'))").fetchall()
        conn.execute("drop function pg_temp.peek(text)")  # the login is dropped next: it must own nothing
    assert seen and all(station in s for s in seen)


# --- officers and the reveal -----------------------------------------------------------------

def test_officer_reveals_inside_its_jurisdiction_only_and_is_audited(access_dsn, owner):
    station, _ = _busiest_station(owner)
    inside_id, inside_name = owner.execute(
        "select gmsfhm, xm from core.core_person where jz_gajgjgdm = %s and xm is not null "
        "order by gmsfhm limit 1", (station,)).fetchone()
    outside_id = owner.execute("select gmsfhm from core.core_person where jz_gajgjgdm <> %(s)s "
                               "and coalesce(hj_gajgjgdm, '') <> %(s)s order by gmsfhm limit 1",
                               {"s": station}).fetchone()[0]
    with login(access_dsn, "dz_officer", station=station) as dsn, psycopg.connect(dsn) as conn:
        officer = conn.info.user
        inside_hash = _hash(owner, inside_id)
        # the officer finds the row in the masked view like an analyst, by its hash
        assert conn.execute("select gmsfhm from masked_core.core_person where gmsfhm_hash = %s",
                            (inside_hash,)).fetchone()[0] == inside_id[:4] + "*" * 10 + inside_id[-4:]
        got = reveal(conn, "masked_core.core_person", inside_hash, "核查走访")
        assert got["gmsfhm"] == inside_id and got["xm"] == inside_name
        outside_hash = _hash(owner, outside_id)
        assert reveal(conn, "core.core_person", outside_hash, "越权尝试") == {}
    entries = owner.execute("select details->>'reason' from meta.audit where db_user = %s and action = 'reveal' "
                            "order by audit_id", (officer,)).fetchall()
    assert [r for (r,) in entries][-1] == "越权尝试" and "核查走访" in [r for (r,) in entries]
    with login(access_dsn, "dz_analyst") as dsn:
        assert _denied(dsn, f"select * from meta.reveal('core.core_person', '{outside_hash}', 'x')")


def test_reveal_cli(access_dsn, owner):
    station, _ = _busiest_station(owner)
    pid = owner.execute("select gmsfhm from core.core_person where jz_gajgjgdm = %s order by gmsfhm limit 1",
                        (station,)).fetchone()[0]
    h = _hash(owner, pid)
    with login(access_dsn, "dz_officer", station=station) as dsn:
        done = _dzhub("reveal", "core.core_person", h, "--reason", "入户核查", "--json", dsn=dsn)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["values"]["gmsfhm"] == pid
        refused = _dzhub("reveal", "core.core_person", h, dsn=dsn)
        assert refused.returncode != 0 and "--reason" in refused.stderr


# --- the other groups -------------------------------------------------------------------------

def test_redirect_role_reads_only_what_it_needs(access_dsn, owner):
    with login(access_dsn, "dz_redirect") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from serve.address_registry").fetchone()[0] > 0
        conn.execute("select count(*) from meta.code_table where dict = 'GAJG'")
        conn.execute("insert into meta.redirect_replay (jti, expires_at) values ('t-access', now())")
        conn.execute("delete from meta.redirect_replay where jti = 't-access'")
        assert set(_readable(conn)) == {"serve.address_registry", "meta.code_table", "meta.redirect_replay"}
    with login(access_dsn, "dz_redirect") as dsn:
        for statement in ("select 1 from ods.ybss_bzdzmlxx", "select 1 from masked_core.core_person",
                          "select 1 from meta.batch", "select 1 from core.core_address"):
            assert _denied(dsn, statement), statement


def test_operator_sees_batches_and_reject_reasons_not_raw_lines(access_dsn, owner):
    with login(access_dsn, "dz_operator") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("select count(*) from meta.batch").fetchone()[0] >= 1
            conn.execute("select batch_id, file_name, line, field, reason from meta.reject")
            conn.execute("select * from meta.batch_daily")
        for statement in ("select raw_line from meta.reject", "select body from meta.cdc_poison",
                          "select 1 from masked_core.core_person", "select 1 from ods.hz_hjrkjbxx",
                          "select 1 from meta.audit"):
            assert _denied(dsn, statement), statement


def test_auditor_reads_the_log_and_nothing_else(access_dsn, owner):
    with login(access_dsn, "dz_auditor") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            actions = {a for (a,) in conn.execute("select action from meta.audit")}
            assert {"package.load", "users.add"} <= actions
        assert _denied(dsn, "insert into meta.audit (action) values ('forged')")
        assert _denied(dsn, "select 1 from masked_core.core_person")


def test_nobody_changes_the_audit_log_not_even_the_superuser(owner):
    assert owner.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    before = owner.execute("select count(*) from meta.audit").fetchone()[0]
    assert before > 0
    for statement in ("update meta.audit set action = 'x'", "delete from meta.audit", "truncate meta.audit"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute(statement)
    assert owner.execute("select count(*) from meta.audit").fetchone()[0] == before


def test_engineer_reads_everything_but_the_hash_secret(access_dsn, owner):
    with login(access_dsn, "dz_engineer") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for rel in ("ods.hz_hjrkjbxx", "core.core_person", "serve.address_registry", "meta.reject"):
                conn.execute(f"select * from {rel} limit 1")
        assert _denied(dsn, "select * from meta.pii_key")
        assert _denied(dsn, "delete from meta.audit")


# --- users ------------------------------------------------------------------------------------

def test_users_cli_add_list_disable(access_dsn, owner):
    station, _ = _busiest_station(owner)
    name = f"t_cli_{os.getpid()}"
    try:
        added = _dzhub("users", "add", name, "--role", "dz_officer", "--station", station, "--password-stdin",
                       "--json", stdin="s3cret-pw\n")
        assert added.returncode == 0, added.stderr
        listed = json.loads(_dzhub("users", "list", "--json").stdout)["users"]
        assert {"name": name, "role": "dz_officer", "enabled": True, "station": station, "county": None} in listed
        assert owner.execute("select rolpassword like 'SCRAM-SHA-256$%%' from pg_authid where rolname = %s",
                             (name,)).fetchone()[0]
        assert _dzhub("users", "disable", name).returncode == 0
        assert not owner.execute("select rolcanlogin from pg_roles where rolname = %s", (name,)).fetchone()[0]
        bad = _dzhub("users", "add", f"{name}_x", "--role", "dz_analyst", "--station", "511702999999")
        assert bad.returncode != 0 and "not a police station" in bad.stderr
        actions = [a for (a,) in owner.execute("select action from meta.audit where object = %s order by audit_id",
                                               (name,))]
        assert actions == ["users.add", "users.disable"]
    finally:
        drop_login(access_dsn, name)


def test_users_add_without_createrole_says_so(access_dsn, owner):
    with login(access_dsn, "dz_engineer") as dsn:
        done = _dzhub("users", "add", f"t_nope_{os.getpid()}", "--role", "dz_analyst", dsn=dsn)
    assert done.returncode != 0
    assert "CREATEROLE" in done.stderr


def test_rejects_export_is_audited(access_dsn, owner):
    batch = owner.execute("select batch_id from meta.batch order by delivery_id limit 1").fetchone()[0]
    assert _dzhub("rejects", batch, "--csv").returncode == 0
    assert owner.execute("select count(*) from meta.audit where action = 'rejects.export' and object = %s",
                         (batch,)).fetchone()[0] >= 1


# --- surviving swaps and rebuilds -------------------------------------------------------------

def _barrier(owner, view: str) -> bool:
    opts = owner.execute("select reloptions from pg_class where oid = %s::regclass", (view,)).fetchone()[0] or []
    return "security_barrier=true" in opts


def test_grants_and_jurisdiction_survive_a_full_rebase(access_dsn, owner, city):
    station = owner.execute("select gajgjgdm from ods.ybss_bzdzmlxx where gajgjgdm is not null "
                            "group by 1 order by count(*) desc limit 1").fetchone()[0]
    # a view of someone's own over the table, with a security barrier: the swap keeps both
    owner.execute("create or replace view public.t_bzdz_barrier with (security_barrier = true) as "
                  "select dzbm from ods.ybss_bzdzmlxx")
    info = write_package(city, persons=PERSONS, seed=SEED, date="20261121", nnnn=1, tables=["YBSS_BZDZMLXX"])
    loaded = _dzhub("package", "load", str(info.zip_path), "--json")
    assert json.loads(loaded.stdout)["status"] == "loaded", loaded.stderr
    assert owner.execute("select max(_batch_id) from ods.ybss_bzdzmlxx").fetchone()[0] == info.batch_id
    assert _barrier(owner, "public.t_bzdz_barrier")
    assert _barrier(owner, "masked_ods.ybss_bzdzmlxx")
    expected = owner.execute("select count(*) from ods.ybss_bzdzmlxx where gajgjgdm = %s", (station,)).fetchone()[0]
    with login(access_dsn, "dz_analyst", station=station) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from masked_ods.ybss_bzdzmlxx").fetchone()[0] == expected > 0
        assert {s for (s,) in conn.execute("select distinct gajgjgdm from masked_ods.ybss_bzdzmlxx")} == {station}
    with login(access_dsn, "dz_engineer") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select count(*) from ods.ybss_bzdzmlxx")


def test_grants_and_jurisdiction_survive_a_dbt_rebuild(access_dsn, owner):
    station, _ = _busiest_station(owner)
    before = owner.execute("select oid from pg_class where oid = 'core.core_person'::regclass").fetchone()[0]
    assert run_dbt(["run", "--quiet", "--full-refresh", "-s", "core_person", "serve_address_registry"],
                   access_dsn, check=False).returncode == 0
    assert owner.execute("select 'core.core_person'::regclass::oid").fetchone()[0] != before, "not rebuilt"
    assert _barrier(owner, "masked_core.core_person")
    expected = owner.execute("select count(*) from core.core_person where %(s)s in (jz_gajgjgdm, hj_gajgjgdm)",
                             {"s": station}).fetchone()[0]
    with login(access_dsn, "dz_analyst", station=station) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from masked_core.core_person").fetchone()[0] == expected > 0
    with login(access_dsn, "dz_redirect") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from serve.address_registry").fetchone()[0] > 0
    with login(access_dsn, "dz_engineer") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select count(*) from core.core_person")


def test_every_model_column_is_classified(owner):
    """A model column without `meta: {pii: …}` in its yml would be left out of the masked view;
    this names it instead, so a new model cannot leak (or lose a column) by omission."""
    missing = owner.execute(
        "select c.table_schema || '.' || c.table_name || '.' || c.column_name "
        "from information_schema.columns c "
        "join (select distinct schema_name, relation from meta.column_class) m "
        "  on (m.schema_name, m.relation) = (c.table_schema, c.table_name) "
        "left join meta.column_class k on (k.schema_name, k.relation, k.column_name) "
        "                               = (c.table_schema, c.table_name, c.column_name) "
        "where k.pii is null").fetchall()
    assert missing == []
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text(encoding="utf-8"))
    built = {f"{n['schema']}.{n['alias']}" for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["schema"] in ("core", "topic", "element", "model")}
    masked = {r for (r,) in owner.execute("select substr(table_schema, 8) || '.' || table_name "
                                          "from information_schema.views where table_schema like 'masked\\_%%' "
                                          "and table_schema <> 'masked_ods'")}
    assert built and built <= masked
