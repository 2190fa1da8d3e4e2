"""``dzhub dbt``: dbt against the warehouse in use (the profile is derived from DZ_PG_DSN)."""

from __future__ import annotations

import click

from dz_assets.cli.output import notice


@click.group("dbt")
def command() -> None:
    """数据建模（dbt）：源定义、解析、构建、文档 (dbt models, docs)."""


@command.command("sources")
@click.option("--check", is_flag=True, help="Fail when the committed sources file is out of date.")
def sources(check: bool) -> None:
    """(Re)generate dbt_project/models/staging/_sources.yml from the catalogue."""
    from dz_assets.catalog.dbt_sources import SOURCES_PATH, render_sources, write_sources

    if check:
        current = SOURCES_PATH.read_text(encoding="utf-8") if SOURCES_PATH.exists() else ""
        if current != render_sources():
            raise click.ClickException(f"{SOURCES_PATH} is out of date: run `dzhub dbt sources`")
        notice("dbt sources are up to date")
        return
    notice("written" if write_sources() else "unchanged")


@command.command("parse")
def parse() -> None:
    """dbt parse: build the manifest the Dagster definitions read (no database needed)."""
    from dz_assets.transform import run_dbt

    run_dbt(["parse", "--quiet"])


@command.command("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def run(dbt_args: tuple[str, ...]) -> None:
    """Any dbt command against the warehouse in use, e.g. `dzhub dbt run build -s staging`."""
    from dz_assets.db import resolve_dsn
    from dz_assets.transform import run_dbt

    r = resolve_dsn(allow_embedded=True)
    notice(r.describe())
    result = run_dbt(list(dbt_args), r.dsn, check=False)
    raise SystemExit(result.returncode)


@command.command("docs")
@click.option("--serve/--no-serve", default=False, help="Serve the docs on 127.0.0.1:8081 afterwards.")
def docs(serve: bool) -> None:
    """dbt docs generate (and optionally serve): lineage and Chinese descriptions for analysts."""
    from dz_assets.db import resolve_dsn
    from dz_assets.transform import DBT_PROJECT_DIR, run_dbt

    r = resolve_dsn(allow_embedded=True)
    run_dbt(["docs", "generate"], r.dsn)
    notice(f"docs written to {DBT_PROJECT_DIR / 'target' / 'index.html'}")
    if serve:
        run_dbt(["docs", "serve", "--host", "127.0.0.1", "--port", "8081"], r.dsn)
