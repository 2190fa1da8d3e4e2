"""``dzhub demo``: the main job, end to end on a small synthetic city.

PostgreSQL found or started (embedded) → schema → a demo city's packages in the inbox → the jobs
of ``defs/`` run through the project's Dagster instance, in the order the data flows: the
catalogue, then each batch the inbox sensor asks for (its dynamic partition and run request,
exactly as the daemon would), the change stream, then everything downstream → a short summary
on standard output.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from dz_assets.cli.output import emit_json, json_option, notice

DEMO_PERSONS = 20_000
DEMO_SEED = 20261120
DEMO_SOURCE = "SCGA"
DEMO_DATE = "20261120"
# The demo prints its own one-line summary per run; Dagster's event stream is in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
MAX_SENSOR_TICKS = 50  # a demo inbox holds a handful of packages
LAYERS = ("ods", "raw", "staging", "core", "topic", "element", "model", "serve")


@dataclass
class DemoReport:
    warehouse: str
    how: str
    persons: int
    packages: list[str] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    rows_per_layer: dict[str, int] = field(default_factory=dict)
    broker: str = ""
    changes_published: int = 0
    ecode: dict = field(default_factory=dict)
    operations: list[str] = field(default_factory=list)
    models: dict = field(default_factory=dict)
    qr: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (all(r["success"] for r in self.runs) and self.ecode.get("ok", False)
                and self.models.get("ok", False) and self.qr.get("ok", False))

    def as_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def broker_answers(amqp_url: str) -> bool:
    p = urlsplit(amqp_url)
    try:
        with socket.create_connection((p.hostname or "127.0.0.1", p.port or 5672), timeout=2):
            return True
    except OSError:
        return False


def _record(report: DemoReport, label: str, result, seconds: float) -> None:
    evaluations = result.get_asset_check_evaluations()
    passed = [e for e in evaluations if e.passed]
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    report.checks_passed += len(passed)
    report.checks_failed += failed
    mats = result.get_asset_materialization_events()
    report.runs.append({"run": label, "run_id": result.run_id, "success": result.success,
                        "materializations": len(mats), "checks": len(evaluations), "seconds": round(seconds, 1)})
    notice(f"  {label}: {'ok' if result.success else 'FAILED'} in {seconds:.1f}s — {len(mats)} materializations, "
           f"{len(passed)} checks passed, {len(failed)} failed")
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                notice(f"    {event.message}")


def materialize_all(instance, report: DemoReport, publish_changes=None) -> None:
    """Run the jobs defined in ``defs/`` through ``instance``, in the order the data flows, as the
    daemon would: the catalogue, then the loads the inbox sensor asks for (its dynamic partitions
    and run requests), the change stream, the reconciliation summary and the daily dbt build.
    Every run carries its job's name, as in production."""
    import dagster as dg

    from dz_assets.definitions import defs as load_defs

    defs = load_defs()

    def run(label: str, job_name: str, **kw) -> None:
        started = time.monotonic()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False, **kw)
        _record(report, label, result, time.monotonic() - started)

    run("catalogue", "catalogue_sync_job")
    # Tick the inbox sensor until it asks for nothing more: it hands out one run per source at a
    # time, oldest batch first.
    sensor = defs.resolve_sensor_def("province_inbox_sensor")
    cursor: str | None = None
    for _ in range(MAX_SENSOR_TICKS):
        # As a context manager: the sensor's resources are torn down here, not by the garbage
        # collector at interpreter exit (which printed a traceback after the demo's summary).
        with dg.build_sensor_context(instance=instance, resources=defs.resources, cursor=cursor) as ctx:
            result = sensor(ctx)
        cursor = result.cursor
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys or []))
        for rr in result.run_requests or []:
            run(f"batch {rr.partition_key}", sensor.job_name, partition_key=rr.partition_key, tags=rr.tags)
        if not result.run_requests:
            break
    # The change stream on top of the loaded state (only where RabbitMQ answers), then dbt.
    if publish_changes is not None:
        publish_changes()
        run("change stream", "change_stream_job")
    run("reconciliation summary", "recon_summary_job")
    if _has_job(defs, "sources_job"):
        with demo_sources(report) as served:
            # the config check, and the sources whose systems answer here (in parallel under the
            # job's own executor; in process here)
            run("declarative sources", "sources_job",
                asset_selection=[dg.AssetKey(["meta", "source_config"]),
                                 *(dg.AssetKey(["raw_src", s]) for s in served)])
    run("dbt daily build", "dbt_daily_build")


def _has_job(defs, name: str) -> bool:
    try:
        defs.resolve_job_def(name)
    except Exception:  # noqa: BLE001 - no sources configured: no job
        return False
    return True


@contextmanager
def demo_sources(report: DemoReport):
    """The other units' systems of the example sources (sources/*.yaml), served by the synthetic
    city: 智慧小区 records in a MariaDB table (DZ_MYSQL_URL), 川e医 behind a loopback HTTP API,
    宣汉县's Excel sheet in the state folder. A system that cannot be served here is said so."""
    from dz_assets.settings import get_settings
    from dz_assets.sources.config import load_sources
    from dz_assets.synth.sources import RecordsApi, county_sheet, health_records, load_access_table

    settings = get_settings()
    loaded = load_sources(check_env=False)
    api = None
    served = []
    for cfg in loaded.sources:
        try:
            if cfg.kind == "mysql" and cfg.table == "zhxq_mjjl":
                n = load_access_table(settings.mysql_url, report.persons, DEMO_SEED)
                os.environ.setdefault(cfg.url_env, settings.mysql_url)
                notice(f"  {cfg.id}: {n:,} access records in MariaDB ({cfg.url_env})")
            elif cfg.kind == "http" and cfg.connection.get("url", "").startswith("http://127.0.0.1:18765/"):
                api = RecordsApi(health_records(report.persons, DEMO_SEED), port=18765)
                notice(f"  {cfg.id}: {len(api.records):,} visit records served at {api.url}")
            elif cfg.kind == "file" and cfg.format == "xlsx":
                path = settings.state_dir / "sources" / "xuanhan" / "xh_syrk_202612.xlsx"
                n = county_sheet(path, report.persons, DEMO_SEED)
                notice(f"  {cfg.id}: {n:,} residents in {path}")
            else:
                continue
            served.append(cfg.id)
        except Exception as exc:  # noqa: BLE001 - its run fails and the summary says why
            notice(f"  {cfg.id}: its system cannot be served here ({type(exc).__name__}: {exc})")
    try:
        yield served
    finally:
        if api is not None:
            api.close()
        report.sources = sources_summary()


def sources_summary() -> dict:
    from dz_assets.db import connect

    try:
        with connect() as conn:
            rows = conn.execute("select source, rows_read, rows_loaded, rows_rejected, last_error "
                                "from meta.source_status order by source").fetchall()
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {r[0]: {"read": r[1], "loaded": r[2], "rejected": r[3], "error": r[4]} for r in rows}


def layer_rows(dsn: str) -> dict[str, int]:
    """Rows per layer: the sum of ``count(*)`` over the relations of each schema; in the dbt
    layers over the project's models only. The incremental models keep bookkeeping tables beside
    them (``core_person__changes``: the keys each run recomputed), which grew a re-run demo's
    "core" from 30 206 to 73 011 rows with the same entities."""
    import json

    from psycopg import sql

    from dz_assets.db import connect
    from dz_assets.defs.transform.project import dbt_project

    nodes = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))["nodes"].values()
    models = {(n["schema"], n["alias"]) for n in nodes if n["resource_type"] in ("model", "seed", "snapshot")}
    dbt_layers = {schema for schema, _ in models}
    out: dict[str, int] = {}
    with connect(dsn) as conn:
        rels = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = any(%s) order by 1, 2", (list(LAYERS),)).fetchall()
        for schema, name in rels:
            if schema in dbt_layers and (schema, name) not in models:
                continue
            n = conn.execute(sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name))).fetchone()[0]
            out[schema] = out.get(schema, 0) + n
    return {layer: out[layer] for layer in LAYERS if layer in out}


def try_ecode_redirect(dsn: str) -> dict:
    """Scan one active Dazhou address of the demo city as the e-code mini-program would: the
    redirect API answers 302 with an SM4 token, and the doorplate page decrypts it into the card.
    Ephemeral keys, generated for this check only."""
    from http.client import HTTPConnection
    from urllib.parse import urlsplit as split

    from dz_assets.db import connect
    from redirect_api.app import create_app
    from redirect_api.keys import KeyRing, generate_keys, parse_keys
    from redirect_api.server import serve_in_thread

    with connect(dsn) as conn:
        row = conn.execute("select dzbm, dzmc from serve.address_registry "
                           "where status = '1' and in_dazhou order by dzbm limit 1").fetchone()
    if row is None:
        return {"ok": False, "reason": "no active Dazhou address in serve.address_registry"}
    dzbm, dzmc = row
    keys, mac = generate_keys()
    ring = KeyRing(keys=parse_keys(keys), mac_key=bytes.fromhex(mac), mode="gcm")

    def get(base: str, path: str) -> tuple[int, str, str]:
        where = split(base)
        http = HTTPConnection(where.hostname, where.port, timeout=10)
        http.request("GET", path)
        resp = http.getresponse()
        body = resp.read().decode("utf-8", "replace")
        http.close()
        return resp.status, resp.getheader("location") or "", body

    # A real server on a free loopback port, as the mini-program would reach it.
    with serve_in_thread(create_app(keyring=ring, dsn=dsn)) as base:
        status, location, _ = get(base, f"/ecode/r/{dzbm}")
        page_status, _, page = get(base, location) if status == 302 else (None, "", "")
    ok = status == 302 and page_status == 200 and dzmc in page
    notice(f"  e-code: /ecode/r/{dzbm} → {status} → doorplate page {page_status or '-'}"
           f"{' shows ' + dzmc if ok else ''}")
    return {"ok": ok, "dzbm": dzbm, "redirect_status": status, "page_status": page_status}


def next_batch_no(dsn: str) -> int:
    """The demo's batch number for its day: a second demo run delivers the next batch (a re-base),
    not the same batch id again (which the province stage rightly sets aside as a duplicate)."""
    from dz_assets.db import connect

    with connect(dsn) as conn:
        last = conn.execute("select max(batch_no) from meta.batch where source = %s and batch_date = %s",
                            (DEMO_SOURCE, DEMO_DATE)).fetchone()[0]
    return (last or 0) + 1


def run_demo(persons: int = DEMO_PERSONS, seed: int = DEMO_SEED) -> DemoReport:
    import dagster as dg

    from dz_assets.db import resolve_dsn
    from dz_assets.db.init import init_database
    from dz_assets.instance import prepare_dagster_home
    from dz_assets.settings import get_settings
    from dz_assets.synth import write_package
    from dz_assets.transform import apply_dbt_env

    started = time.monotonic()
    settings = get_settings()
    r = resolve_dsn(allow_embedded=True)
    notice(r.describe())
    report = DemoReport(warehouse=r.dsn, how=r.how, persons=persons)
    init = init_database(r.dsn)
    notice(f"schema ready (migrations applied: {len(init.migrations_applied)})")
    report.broker = "reachable" if broker_answers(settings.amqp_url) else "not reachable"
    if report.broker == "reachable":
        from dz_assets.cdc.topology import declare_for_init

        declare_for_init()
    else:
        notice(f"RabbitMQ does not answer at {settings.amqp_url}: the change-stream parts are skipped")
    prepare_dagster_home(r.dsn)
    apply_dbt_env(r.dsn)

    inbox: Path = settings.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    nnnn = next_batch_no(r.dsn)
    notice(f"generating a demo city of {persons:,} persons into {inbox} …")
    info = write_package(inbox, persons=persons, seed=seed, kind="FULL", date=DEMO_DATE, nnnn=nnnn)
    report.packages.append(info.batch_id)
    notice(f"  {info.batch_id}: {sum(info.tables.values()):,} rows in {len(info.tables)} tables")

    def publish_changes() -> None:
        from dz_assets.synth import publish_messages

        summary = publish_messages(settings.amqp_url, persons=persons, seed=seed, exchange=settings.cdc_exchange)
        report.changes_published = summary["changes"]
        notice(f"published a day of the city's changes: {summary['changes']:,} in {summary['messages']:,} "
               f"messages to {settings.cdc_exchange}")

    notice("materializing every asset through Dagster …")
    with dg.DagsterInstance.get() as instance:
        materialize_all(instance, report, publish_changes if report.broker == "reachable" else None)
    report.ecode = try_ecode_redirect(r.dsn)
    report.models = try_rule_models(r.dsn, datetime.strptime(DEMO_DATE, "%Y%m%d").date())
    report.qr = try_qr(r.dsn)
    report.rows_per_layer = layer_rows(r.dsn)
    report.operations = operations_lines(r.dsn)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def try_rule_models(dsn: str, as_of: date) -> dict:
    """The fourteen rule models for the demo's delivery day, as ``dzhub models run`` runs them."""
    from dz_assets.rules.run import run_models

    notice(f"running the fourteen rule models for {as_of} …")
    try:
        run = run_models(dsn, as_of)
    except Exception as exc:  # noqa: BLE001 - reported in the summary and fails the demo
        return {"ok": False, "as_of": as_of.isoformat(), "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "as_of": as_of.isoformat(), "findings": run.findings, "seconds": round(run.duration_s, 1)}


def try_qr(dsn: str) -> dict:
    """QR codes for sign making, briefly: today's daily batch (what `dzhub qr --day` writes; the
    demo's addresses were all recorded today, so they belong to tomorrow's batch, which would
    render thousands) and a reprint of three addresses, each code verified by decoding it."""
    from dz_assets.db import connect
    from dz_assets.ecode import batch, history

    notice("QR batch for sign making: today's delivery and a reprint of three codes …")
    try:
        day = batch.make_day_batch(dsn, history.beijing_today())
        with connect(dsn) as conn:
            codes = [c for (c,) in conn.execute("select dzbm from serve.address_registry "
                                                "where status = '1' and in_dazhou order by dzbm limit 3")]
        again = batch.reprint(dsn, codes) if codes else None
    except Exception as exc:  # noqa: BLE001 - reported in the summary
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "day": day.day.isoformat(), "count": day.count, "path": str(day.path),
            "reprint": str(again.path) if again else None, "verified": again.verified if again else 0}


def operations_lines(dsn: str) -> list[str]:
    """What an operator and an analyst see after the run: platform health, open alerts, the
    pipeline's metrics, and the analysts' masked view of a person (never the raw number)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from dz_assets.db import connect
    from dz_assets.ops.metrics import WarehouseCollector
    from dz_assets.ops.status import platform_status

    lines = []
    try:
        st = platform_status()
        lines.append(f"  status: {'up' if st.ok else 'DOWN: ' + '; '.join(st.down)}; open alerts "
                     + (", ".join(f"{k} {n}" for k, n in sorted(st.alerts_open.items())) or "none")
                     + "  (dzhub status, dzhub alerts)")
        registry = CollectorRegistry()
        registry.register(WarehouseCollector(dsn))
        families = {line.split()[2] for line in generate_latest(registry).decode().splitlines()
                    if line.startswith("# TYPE")}
        lines.append(f"  metrics: {len(families)} families for Prometheus  (dzhub metrics serve; /metrics on the redirect)")
        with connect(dsn) as conn:
            row = conn.execute("select gmsfhm, xm from masked_ods.hz_hjrkjbxx limit 1").fetchone()
        if row:
            lines.append(f"  masked for analysts: masked_ods.hz_hjrkjbxx shows {row[0]} {row[1]}  (dzhub users, dzhub reveal)")
    except Exception as exc:  # noqa: BLE001 - the demo's own runs decide its outcome, not this summary
        lines.append(f"  operations summary unavailable: {type(exc).__name__}: {exc}")
    lines.append(console_line(dsn))
    return lines


def console_line(dsn: str) -> str:
    """The operations console, briefly: served for a moment on loopback, a page asks for sign-in
    and /metrics answers without."""
    import httpx

    from dz_assets.settings import get_console_settings
    from dz_console.app import create_app
    from dz_console.server import serve_in_thread

    try:
        with serve_in_thread(create_app(dsn, get_console_settings())) as url:
            page = httpx.get(url + "/monitoring", timeout=10)
            metrics = httpx.get(url + "/metrics", timeout=10)
        return (f"  console: /monitoring {page.status_code} → {page.headers.get('location', '-')}, /metrics "
                f"{metrics.status_code}  (dzhub users add NAME --role dz_operator --password-stdin; "
                "dzhub console serve → http://127.0.0.1:8090)")
    except Exception as exc:  # noqa: BLE001 - a summary line, not the demo's outcome
        return f"  console unavailable: {type(exc).__name__}: {exc}"


def summary_text(report: DemoReport) -> str:
    lines = [f"dz-hub demo {'finished' if report.ok else 'FAILED'} in {report.seconds}s "
             f"on {report.how} PostgreSQL {report.warehouse}"]
    lines += [f"  {layer:<8} {n:>12,} rows" for layer, n in report.rows_per_layer.items()]
    lines.append(f"  checks: {report.checks_passed} passed, {len(report.checks_failed)} failed")
    lines += [f"    failed: {name}" for name in report.checks_failed]
    lines.append(f"  RabbitMQ: {report.broker}"
                 + (f"; {report.changes_published:,} changes streamed and applied" if report.changes_published
                    else "; change stream skipped"))
    lines.append(f"  e-code redirect: {'ok' if report.ecode.get('ok') else 'FAILED'} ({report.ecode.get('dzbm', '-')})")
    m = report.models
    if m.get("ok"):
        found = m.get("findings") or {}
        lines.append(f"  rule models: {len(found)} evaluated for {m['as_of']}, {sum(found.values()):,} findings  "
                     f"(dzhub findings --as-of {m['as_of']})")
    else:
        lines.append(f"  rule models: FAILED ({m.get('error', 'not run')})")
    q = report.qr
    if q.get("ok"):
        why = (" (an empty manifest: the demo's addresses were recorded today, so they belong to tomorrow's batch)"
               if q["count"] == 0 else "")
        lines.append(f"  QR batch: {q['day']} holds {q['count']} codes{why} ({q['path']}); reprint of {q['verified']} "
                     f"codes, each decoded and matched  (dzhub qr --day D | --dzbm CODE… | --all)")
    else:
        lines.append(f"  QR batch: FAILED ({q.get('error', 'not run')})")
    for sid, st in (report.sources or {}).items():
        if sid == "error":
            lines.append(f"  sources: unavailable ({st})")
        elif st.get("error"):
            lines.append(f"  source {sid}: FAILED ({st['error'][:120]})")
        else:
            lines.append(f"  source {sid}: read {st['read']:,}, loaded {st['loaded']:,}, rejected "
                         f"{st['rejected']:,}  (dzhub sources list; dzhub sources rejects {sid})")
    if report.sources and "error" not in report.sources:
        lines.append("  fusion: core.core_fused_person / core_fused_address merge them with the province's data")
    lines += report.operations
    lines.append("Open the Dagster UI with:  .venv/bin/dzhub ui   (then http://127.0.0.1:3000)")
    lines.append("Open the operations console with:  .venv/bin/dzhub console serve   (then http://127.0.0.1:8090)")
    return "\n".join(lines)


@click.command("demo")
@click.option("--persons", default=DEMO_PERSONS, show_default=True, type=int, help="Size of the demo city.")
@click.option("--seed", default=DEMO_SEED, show_default=True, type=int)
@json_option
def command(persons: int, seed: int, as_json: bool) -> None:
    """主流程演示：生成演示城市、入库并物化全部资产 (the main job, end to end)."""
    # Everything but the final JSON object goes to stderr, including what dbt and Dagster print
    # on file descriptor 1 from subprocesses.
    with stdout_to_stderr():
        report = run_demo(persons, seed)
    if as_json:
        emit_json(report.as_dict())
    else:
        # The summary is the command's result: standard output (progress went to standard error).
        click.echo(summary_text(report))
    if not report.ok:
        raise SystemExit(1)
