"""The ``dzhub`` command: thin over the same domain functions the Dagster assets call.

Each command group lives in its own module and is registered here. Conventions (see
``output.py``): with ``--json`` a command prints exactly one JSON object on standard output;
notices and progress always go to standard error.
"""

from __future__ import annotations

import os

import click

# No network here, and none wanted: dbt and Dagster must not phone home.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dz-hub")
def main() -> None:
    """dz-hub：达州市二维码数字门牌系统数据汇聚平台 (Dazhou doorplate data hub)."""


def _register() -> None:
    import importlib

    for name in ("db", "synth", "package", "rejects", "cdc", "redirect", "dbt", "demo", "ui"):
        try:
            module = importlib.import_module(f"dz_assets.cli.{name}")
        except ModuleNotFoundError as exc:  # a group not written yet
            if exc.name != f"dz_assets.cli.{name}":
                raise
            continue
        main.add_command(module.command)


_register()
