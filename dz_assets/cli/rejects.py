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
    from dz_assets.province.rejects import delivery_of, read_rejects, rejects_csv

    with connect() as conn:
        delivery = delivery_of(conn, batch_id)
        rows = read_rejects(conn, batch_id)
    if delivery is None:
        notice(f"no batch {batch_id} is registered")
    if as_json:
        emit_json({"batch_id": batch_id, "delivery_id": delivery, "count": len(rows), "rejects": rows})
        return
    if as_csv or out:
        text = rejects_csv(rows)
        if out:
            with open(out, "w", encoding="utf-8-sig", newline="") as fh:
                fh.write(text)
            notice(f"{len(rows)} rejected rows of {batch_id} written to {out}")
        else:
            sys.stdout.write(text)
        return
    notice(f"{len(rows)} rejected rows of {batch_id} (delivery {delivery})")
    for r in rows:
        click.echo(f"{r['file']}:{r['line']}\t{r['field'] or '-'}\t{r['reason']}")
    if delivery is None:
        sys.exit(1)
