"""``dzhub reveal``: an officer's audited look at one row's unmasked ID numbers and names."""

from __future__ import annotations

import sys

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.command("reveal")
@click.argument("relation")
@click.argument("id_hash")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@json_option
def command(relation: str, id_hash: str, reason: str, as_json: bool) -> None:
    """查看脱敏前信息（审计）：RELATION（如 core.core_person）中身份号码哈希为 ID_HASH 的一行。"""
    from dz_assets.db import connect
    from dz_assets.security.reveal import reveal

    with connect() as conn:
        values = reveal(conn, relation, id_hash, reason)
    if as_json:
        emit_json({"relation": relation, "id_hash": id_hash, "found": bool(values), "values": values})
    else:
        for column, value in values.items():
            click.echo(f"{column}\t{value}")
    if not values:
        notice(f"no row of {relation} with that hash in your jurisdiction (the attempt is audited)")
        sys.exit(1)
