"""``dzhub db``: where the warehouse is, and its schema."""

from __future__ import annotations

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.group("db")
def command() -> None:
    """仓库数据库：连接、初始化 (warehouse connection and schema)."""


@command.command("url")
@json_option
def url(as_json: bool) -> None:
    """Print the PostgreSQL URL in use (starting the embedded one if it is the one in use)."""
    from dz_assets.db import resolve_dsn

    r = resolve_dsn(allow_embedded=True)
    if as_json:
        emit_json({"url": r.dsn, "how": r.how})
    else:
        notice(r.describe())
        click.echo(r.dsn)


@command.command("init")
@json_option
def init(as_json: bool) -> None:
    """Create the database, schemas, meta tables and ODS tables (idempotent)."""
    from dz_assets.cdc.topology import declare_for_init
    from dz_assets.db import resolve_dsn
    from dz_assets.db.init import init_database

    r = resolve_dsn(allow_embedded=True)
    notice(r.describe())
    report = init_database(r.dsn)
    # The change stream's broker topology; never fails the init (the consumer declares it later).
    report.extra.update(declare_for_init())
    out = {"url": r.dsn, "how": r.how, **report.as_dict()}
    if as_json:
        emit_json(out)
    else:
        applied = ", ".join(report.migrations_applied) or "none (up to date)"
        notice(f"migrations applied: {applied}; ODS tables created: {len(report.ods_tables_created)}; "
               f"masked views: {report.masked_views}")
    if report.missing_roles:
        notice(f"the server refused CREATEROLE: group roles {', '.join(report.missing_roles)} are missing and "
               "nothing was granted. A DBA runs the SQL of README (Access), then `dzhub db init` again.")


@command.command("stop")
def stop() -> None:
    """Stop the embedded PostgreSQL, if this project started one."""
    from dz_assets.db.embedded import stop_embedded
    from dz_assets.settings import get_settings

    stopped = stop_embedded(get_settings().embedded_pg_dir)
    notice("embedded PostgreSQL stopped" if stopped else "no embedded PostgreSQL is running")
