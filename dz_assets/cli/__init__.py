"""The ``dzhub`` command: thin over the same domain functions the Dagster assets call.

Each command group lives in its own module and is registered here. Conventions (see
``output.py``): with ``--json`` a command prints exactly one JSON object on standard output;
notices and progress always go to standard error.

Command functions import their domain code inside the function, on purpose: ``dzhub --help`` takes
0.13 s, while importing the Dagster definitions, the pipeline, the consumer and the redirect app
takes 1.7 s, which every command would otherwise pay (the CLI is also what scripts and cron call).
Nothing below ``cli/`` imports it, so these imports hide no cycle.
"""

from __future__ import annotations

import os

import click

from dz_assets.settings import flag

# No network here, and none wanted: dbt and Dagster must not phone home.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


class DzGroup(click.Group):
    """Unexpected errors end in one clear line on stderr and exit status 1 (a verdict or result
    already printed stays the only thing on stdout); ``DZ_DEBUG=1`` shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if flag("DZ_DEBUG"):
                raise
            what = type(exc).__name__
            click.echo(f"dzhub: error: {what}: {exc}".rstrip(), err=True)
            if hint := _hint(exc):
                click.echo(f"dzhub: {hint}", err=True)
            click.echo("dzhub: (set DZ_DEBUG=1 for the traceback)", err=True)
            ctx.exit(1)


def _hint(exc: Exception) -> str | None:
    """What to do about the errors a new warehouse gives, before ``db init`` made it."""
    import psycopg

    text = str(exc)
    if isinstance(exc, psycopg.OperationalError) and "database" in text and "does not exist" in text:
        return "that database does not exist yet: `dzhub db init` creates it with dz-hub's schema"
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
        return "the warehouse lacks dz-hub's schema: `dzhub db init` creates it (idempotent)"
    return None


@click.group(cls=DzGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dz-hub")
def main() -> None:
    """dz-hub：达州市二维码数字门牌系统数据汇聚平台 (Dazhou doorplate data hub)."""


def _register() -> None:
    import importlib

    for name in ("db", "synth", "package", "rejects", "cdc", "alerts", "status", "metrics", "purge", "redirect",
                 "dbt", "models", "findings", "qr", "demo", "ui", "users", "reveal", "console",
                 "sources"):
        try:
            module = importlib.import_module(f"dz_assets.cli.{name}")
        except ModuleNotFoundError as exc:  # a group not written yet
            if exc.name != f"dz_assets.cli.{name}":
                raise
            continue
        main.add_command(module.command)


_register()
