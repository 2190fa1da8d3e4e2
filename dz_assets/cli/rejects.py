"""``dzhub rejects BATCH``: the rows a batch rejected, with file, line, field, reason and raw line."""

from __future__ import annotations

import sys

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.command("rejects")
@click.argument("batch_id")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout (or --out), raw line as text and hex.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the CSV to this file.")
@json_option
def command(batch_id: str, as_csv: bool, out: str | None, as_json: bool) -> None:
    """异常数据：某批次被拒收的记录 (rejected rows of a provincial batch)."""
    from dz_assets.db import connect
    from dz_assets.province.delivery.rejects import delivery_of, iter_rejects, write_rejects_csv
    from dz_assets.security.audit import audit_in

    with connect() as conn:  # rows stream from the server: a batch may have rejected millions
        delivery = delivery_of(conn, batch_id)
        if delivery is None:  # one line (one object with --json), status 1: nothing to list
            message = f"no batch {batch_id} is registered"
            if as_json:
                emit_json({"batch_id": batch_id, "delivery_id": None, "error": "unknown_batch",
                           "message": message})
            else:
                notice(message)
            sys.exit(1)
        if as_json or as_csv or out:  # the raw lines leave the warehouse: personal data exported
            audit_in(conn, "rejects.export", batch_id, format="json" if as_json else "csv", out=out)
            conn.commit()
        if as_json:
            count = conn.execute("select count(*) from meta.reject where delivery_id = %s", (delivery,)).fetchone()[0]
            emit_json({"batch_id": batch_id, "delivery_id": delivery, "count": count,
                       "rejects": _Streamed(iter_rejects(conn, batch_id))})
            return
        if as_csv or out:
            if out:
                with open(out, "w", encoding="utf-8-sig", newline="") as fh:
                    n = write_rejects_csv(iter_rejects(conn, batch_id), fh)
                notice(f"{n} rejected rows of {batch_id} written to {out}")
            else:
                write_rejects_csv(iter_rejects(conn, batch_id), sys.stdout)
            return
        n = 0
        for r in iter_rejects(conn, batch_id):
            click.echo(f"{r['file']}:{r['line']}\t{r['field'] or '-'}\t{r['reason']}")
            n += 1
        notice(f"{n} rejected rows of {batch_id} (delivery {delivery})")


class _Streamed:
    """A JSON array written item by item by ``emit_json``."""

    def __init__(self, items) -> None:
        self.items = items

    def __json_stream__(self):
        return self.items
