"""``dzhub models`` and ``dzhub findings``: the rule models of spec/rule-models.md ("Interfaces")."""

from __future__ import annotations

from datetime import date

import click

from dz_assets.cli.output import emit_json, json_option


def _day(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("expected YYYY-MM-DD") from exc


def day_option(required: bool = True):
    return click.option("--as-of", "as_of", required=required, callback=_day, help="评估日 YYYY-MM-DD（北京时间）.")


@click.group("models")
def command() -> None:
    """业务实战模型：按评估日运行十四个规则模型 (rule models)."""


@command.command("run")
@day_option()
@json_option
def run(as_of: date, as_json: bool) -> None:
    """Evaluate all fourteen models for day D (building the views they read) and replace D's findings."""
    from dz_assets.db import resolve_dsn
    from dz_assets.rules.run import run_models

    outcome = run_models(resolve_dsn(allow_embedded=True).dsn, as_of)
    if as_json:
        emit_json(outcome.as_json())
        return
    click.echo(f"评估日 {as_of}：共 {sum(outcome.findings.values())} 条发现（{outcome.duration_s:.1f} 秒）")
    for code, n in outcome.findings.items():
        click.echo(f"  {code}\t{n}")
