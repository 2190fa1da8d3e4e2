"""Masking benchmark: the same analyst questions as the owner on the base tables and as a
station-bound analyst through the masked, jurisdiction-scoped views.

    .venv/bin/python bench/masking_bench.py [--persons 1000000] [--seed 7] [--repeat 15] [--reuse]

In a database of its own (``dzhub_masking_bench``), one run:

1. writes (cached under ``bench/out/dbt_city_<persons>_<seed>/``, bench/_city.py) the synthetic city's FULL
   package, loads it through the real loader and builds the dbt layers (skipped with ``--reuse``
   when the database already holds them);
2. binds a fresh ``dz_analyst`` login to the station with the most residents;
3. times each question ``--repeat`` times (median, warm cache, every query planned as an ad-hoc
   one: no server-side prepared statements) as the owner and as that login:
   - a per-station topic count: ``topic.topic_hjgl__person`` filtered by the station vs the
     masked view, whose jurisdiction filter does it;
   - a lookup by ID: ``core.core_person`` by ID number vs the masked view by its keyed hash;
4. prints both times, their ratio (goal ≤ 1.3×) and the plans of the analyst's queries, and the
   floor of the lookup: the owner through a bare security-barrier view (no masking, no scope).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time

import psycopg
from _city import full_package, load
from psycopg import sql

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.security.users import add_user
from dz_assets.settings import DEFAULT_PG_DSN, env
from dz_assets.transform import run_dbt

DB = "dzhub_masking_bench"
GOAL = 1.3


def _build(dsn: str, persons: int, seed: int) -> None:
    print(f"loaded in {load(full_package(persons, seed), dsn):.1f} s", file=sys.stderr)
    t = time.monotonic()
    run_dbt(["run", "--quiet"], dsn)
    print(f"dbt run in {time.monotonic() - t:.1f} s", file=sys.stderr)


def _login_dsn(dsn: str, name: str) -> str:
    _, rest = dsn.split("@", 1)
    return f"postgresql://{name}@{rest}"


def _medians(owner: psycopg.Connection, oq: str, op: tuple, analyst: psycopg.Connection, aq: str, ap: tuple,
             repeat: int) -> tuple[float, float, int, int]:
    """Median times of both, run in turns (the server is shared: drift hits both alike)."""
    o_n, a_n = len(owner.execute(oq, op).fetchall()), len(analyst.execute(aq, ap).fetchall())  # warm
    o_t, a_t = [], []
    for _ in range(repeat):
        for conn, q, p, out in ((owner, oq, op, o_t), (analyst, aq, ap, a_t)):
            t = time.perf_counter()
            conn.execute(q, p).fetchall()
            out.append(time.perf_counter() - t)
    return statistics.median(o_t), statistics.median(a_t), o_n, a_n


def _plan(conn: psycopg.Connection, query: str, params: tuple) -> str:
    rows = conn.execute("explain (analyze, costs off, timing on, summary on) " + query, params).fetchall()
    return "\n".join("    " + r[0] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--reuse", action="store_true", help="Keep the database when it already holds a city.")
    args = ap.parse_args()

    server = env("DZ_PG_DSN", DEFAULT_PG_DSN)
    dsn = with_database(server, DB)
    with psycopg.connect(with_database(server, "postgres"), autocommit=True) as c:
        exists = c.execute("select 1 from pg_database where datname = %s", (DB,)).fetchone()
        if exists and not args.reuse:
            c.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(DB)))
            exists = None
    init_database(dsn)
    if not exists:
        _build(dsn, args.persons, args.seed)

    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as owner:
        persons = owner.execute("select count(*) from core.core_person").fetchone()[0]
        station = owner.execute("select hj_gajgjgdm from topic.topic_hjgl__person where hj_gajgjgdm is not null "
                                "group by 1 order by count(*) desc limit 1").fetchone()[0]
        pid = owner.execute("select gmsfhm from core.core_person where hj_gajgjgdm = %s order by gmsfhm "
                            "offset 100 limit 1", (station,)).fetchone()[0]
        id_hash = owner.execute("select gmsfhm_hash from masked_core.core_person where gmsfhm_hash = "
                                "encode(sha256(convert_to((select secret from meta.pii_key) || upper(btrim(%s)), "
                                "'UTF8')), 'hex')", (pid,)).fetchone()[0]
        name = f"bench_analyst_{secrets.token_hex(3)}"
        with psycopg.connect(dsn) as c:
            add_user(c, name, "dz_analyst", station=station)
        try:
            with psycopg.connect(_login_dsn(dsn, name), autocommit=True, prepare_threshold=None) as analyst:
                questions = [
                    ("per-station topic count",
                     owner, "select count(*) from topic.topic_hjgl__person where hj_gajgjgdm = %s", (station,),
                     analyst, "select count(*) from masked_topic.topic_hjgl__person", ()),
                    ("person lookup by ID",
                     owner, "select * from core.core_person where gmsfhm = %s", (pid,),
                     analyst, "select * from masked_core.core_person where gmsfhm_hash = %s", (id_hash,)),
                ]
                print(f"masking bench: {persons} persons, analyst bound to station {station}, "
                      f"median of {args.repeat}")
                for label, oc, oq, op, ac, aq, ap_ in questions:
                    o_t, a_t, o_n, a_n = _medians(oc, oq, op, ac, aq, ap_, args.repeat)
                    assert o_n == a_n, (label, o_n, a_n)
                    ratio = a_t / o_t if o_t else float("inf")
                    verdict = "ok" if ratio <= GOAL else f"over the {GOAL}× goal"
                    print(f"  {label:26s} owner {o_t * 1000:9.2f} ms   analyst {a_t * 1000:9.2f} ms   "
                          f"{ratio:5.2f}×  {verdict}")
                    print(_plan(ac, aq, ap_))
                # What any view costs a one-row lookup, masking and scoping aside: the owner through a
                # plain security-barrier view of the same table, found by the same keyed hash.
                owner.execute("create temp view bench_plain with (security_barrier) as "
                              "select t.*, meta.pii_hash(t.gmsfhm::text) as gmsfhm_hash from core.core_person t")
                o_t, f_t, _, _ = _medians(owner, "select * from core.core_person where gmsfhm = %s", (pid,),
                                          owner, "select * from bench_plain where gmsfhm_hash = %s", (id_hash,),
                                          args.repeat)
                print(f"  {'floor: lookup, bare view':26s} owner {o_t * 1000:9.2f} ms   view    {f_t * 1000:9.2f} ms   "
                      f"{f_t / o_t:5.2f}×  (no masking, no scope: the view and the hash alone)")
        finally:
            owner.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))
            owner.execute("delete from meta.login_scope where login = %s", (name,))


if __name__ == "__main__":
    main()
