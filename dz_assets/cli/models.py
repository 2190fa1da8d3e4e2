"""``dzhub models``: run the rule models of spec/rule-models.md for a day ("Interfaces"), their precision, a threshold diff."""

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
    """Evaluate all fourteen models for day D (building the per-run tables they read) and replace D's findings."""
    from dz_assets.db import resolve_dsn
    from dz_assets.rules.run import run_models

    outcome = run_models(resolve_dsn(allow_embedded=True).dsn, as_of)
    if outcome.reused:
        click.echo(f"{as_of} 的输入与上次运行相同（所读各表、模型代码、阈值均未变）：沿用已有发现", err=True)
    if as_json:
        emit_json(outcome.as_json())
        return
    click.echo(f"评估日 {as_of}：共 {sum(outcome.findings.values())} 条发现（{outcome.duration_s:.1f} 秒）")
    for code, n in outcome.findings.items():
        click.echo(f"  {code}\t{n}")


@command.command("precision")
@json_option
def precision(as_json: bool) -> None:
    """各模型、各规则版本按复核结论计算的准确率 (precision per model and rule version)."""
    import dataclasses

    from dz_assets.db import resolve_dsn
    from dz_assets.rules.review import precision as model_precision

    rows = model_precision(resolve_dsn(allow_embedded=True).dsn)
    if as_json:
        emit_json({"precision": [dataclasses.asdict(r) for r in rows]})
        return
    for r in rows:
        shown = f"{r.precision:.1%}" if r.precision is not None else "—"
        click.echo(f"{r.model_code}\t{r.rule_version}\t复核 {r.reviewed}\t属实 {r.confirmed}\t不属实 {r.false_positive}\t准确率 {shown}")


@command.command("diff")
@day_option()
@click.option("--vars", "vars_json", required=True, help='Proposed threshold vars, e.g. \'{"yj03_min_disputes": 2}\'.')
@json_option
@click.option("--unmasked", is_flag=True, help="Show ID numbers in full (roles permitting).")
def diff(as_of: date, vars_json: str, as_json: bool, unmasked: bool) -> None:
    """阈值或规则调整前预览：按评估日比较将新增与减少的发现 (findings a change would add and drop)."""
    import json

    from dz_assets.db import resolve_dsn
    from dz_assets.rules.diff import diff_models
    from dz_assets.rules.masking import mask_id

    try:
        overrides = json.loads(vars_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--vars") from exc
    if not isinstance(overrides, dict):
        raise click.BadParameter("a JSON object of var names and values", param_hint="--vars")
    result = diff_models(resolve_dsn(allow_embedded=True).dsn, as_of, overrides)
    show = (lambda v: v) if unmasked else mask_id

    def subjects(items):
        return [{"subject_gmsfhm": show(g), "subject_dzbm": d} for g, d in items]

    models = {code: {"before": d.before, "after": d.after, "added": subjects(d.added), "dropped": subjects(d.dropped)}
              for code, d in result.items()}
    if as_json:
        emit_json({"as_of": as_of.isoformat(), "vars": overrides, "models": models})
        return
    if not models:
        click.echo("所改变量不影响任何模型")
    for code, m in models.items():
        click.echo(f"{code}：{m['before']} → {m['after']}（新增 {len(m['added'])}，减少 {len(m['dropped'])}）")
