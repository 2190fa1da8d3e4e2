"""``dzhub cdc``: the change-message consumer, its status, INCR apply and reconciliation."""

from __future__ import annotations

import signal

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.group("cdc")
def command() -> None:
    """增量数据同步：变更消息消费、增量包应用、对账 (incremental sync and reconciliation)."""


@command.command("consume")
@click.option("--drain", is_flag=True, help="Consume until the queue is empty, apply, print a summary, exit.")
@click.option("--max-changes", type=int, help="Stop after this many changes.")
@click.option("--max-seconds", type=float, help="Stop after this many seconds.")
@json_option
def consume(drain: bool, max_changes: int | None, max_seconds: float | None, as_json: bool) -> None:
    """Consume the change stream (DZ_CDC_EXCHANGE/DZ_CDC_QUEUE) into the change logs and ODS (acknowledged after commit; SIGTERM stops cleanly)."""
    from dz_assets.cdc.consumer import Consumer

    c = Consumer()
    signal.signal(signal.SIGTERM, lambda *_: c.stop())
    signal.signal(signal.SIGINT, lambda *_: c.stop())
    notice(f"consuming {c.topo.queue} (exchange {c.topo.exchange}){' until drained' if drain else ''}")
    summary = c.run(drain=drain, max_changes=max_changes, max_seconds=max_seconds).as_dict()
    if as_json:
        emit_json(summary)
    else:
        notice(f"{summary['changes']} changes ({summary['stored']} new, {summary['applied']} applied, "
               f"{summary['poison']} poison) in {summary['seconds']} s")


@command.command("status")
@json_option
def status(as_json: bool) -> None:
    """Queue depth, pending changes and lag, per-table state, poison."""
    from dz_assets.cdc.status import status as cdc_status
    from dz_assets.db import connect

    with connect() as conn:
        st = cdc_status(conn)
    if as_json:
        emit_json(st.as_json())
    else:
        notice(f"pending {st.pending}, lag {st.lag_s} s (bound {st.max_lag_s} s), "
               f"queue {st.queue_ready}, dead-lettered {st.dead_lettered}")


@command.command("local-recon")
@json_option
def local_recon(as_json: bool) -> None:
    """Local reconciliation: change-log counts vs ODS state, per table."""
    from dz_assets.cdc.status import local_recon_all
    from dz_assets.db import connect

    with connect() as conn:
        rows = local_recon_all(conn)
    if as_json:
        emit_json({"tables": [r.as_json() for r in rows], "ok": all(r.ok for r in rows)})
    else:
        for r in rows:
            notice(f"{r.table}: {r.keys} keys, {r.matching} matching, {r.behind} behind, {r.missing} missing")


@command.command("recon")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@json_option
def recon(path: str, as_json: bool) -> None:
    """Reconcile a RECON package against dz-hub's tables; writes a repair request to the outbox."""
    from dz_assets.province.delivery.recon_package import reconcile_package
    from dz_assets.province.reader.package import open_package
    from dz_assets.security.audit import audit

    pkg = open_package(path)
    if not pkg.valid:
        out = {"batch_id": pkg.batch_id, "valid": False, "errors": [p.as_dict() for p in pkg.problems]}
    else:
        out = reconcile_package(None, pkg, delivery_id=None, batch_id=pkg.batch_id).as_json()
        audit("cdc.recon", pkg.batch_id, path=str(path), differing_keys=out.get("differing_keys"),
              repair_request=str(out.get("repair_request")))
    if as_json:
        emit_json(out)
    else:
        notice(f"{out.get('differing_keys')} differing keys, {out.get('in_flight_keys')} in flight; "
               f"repair request {out.get('repair_request')}")


@command.command("incr")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@json_option
def incr(path: str, as_json: bool) -> None:
    """Apply an INCR package's rows directly (no registry: the inbox pipeline is the normal path)."""
    from dz_assets.province.delivery.incr_load import apply_incr_batch
    from dz_assets.province.reader.package import open_package
    from dz_assets.security.audit import audit

    pkg = open_package(path)
    if not pkg.valid:
        out = {"batch_id": pkg.batch_id, "valid": False, "errors": [p.as_dict() for p in pkg.problems]}
    else:
        out = apply_incr_batch(None, pkg, delivery_id=None, batch_id=pkg.batch_id).as_json()
        audit("cdc.incr", pkg.batch_id, path=str(path), rows=out.get("rows"))
    if as_json:
        emit_json(out)
    else:
        notice(f"{out.get('rows')} rows of {pkg.batch_id}")
