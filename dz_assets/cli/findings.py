"""``dzhub findings``: a day's findings of the rule models, masked for analysts unless --unmasked."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date

import click

from dz_assets.cli.models import day_option
from dz_assets.cli.output import emit_json, json_option, notice


@click.group("findings", invoke_without_command=True)
@click.pass_context
@day_option(required=False)
@click.option("--model", "model", default=None, help="Only this model code (e.g. YJ03).")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="UTF-8 CSV with BOM and a header on stdout.")
@click.option("--unmasked", is_flag=True, help="Show ID numbers and names in full (roles permitting).")
@click.option("--include-suppressed", is_flag=True, help="Also list subjects reviewed as false positives.")
def command(ctx: click.Context, as_of: date | None, model: str | None, as_json: bool, as_csv: bool, unmasked: bool,
            include_suppressed: bool) -> None:
    """列出评估日的模型发现（身份号码与姓名默认脱敏） (a day's findings)."""
    if ctx.invoked_subcommand is not None:
        return
    if as_of is None:
        raise click.UsageError("--as-of is required")
    from dz_assets.db import resolve_dsn
    from dz_assets.rules.findings import OUTPUT_COLUMNS, read_findings
    from dz_assets.rules.masking import mask_finding

    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    dsn = resolve_dsn(allow_embedded=True).dsn
    if unmasked:
        from dz_assets.db import connect
        from dz_assets.security.audit import audit
        from dz_assets.security.reveal import may_unmask

        with connect(dsn) as conn:
            if not may_unmask(conn):
                raise click.ClickException("--unmasked: only dz_engineer logins list findings unmasked; "
                                           "an officer reveals one row at a time with dzhub reveal")
    rows = read_findings(dsn, as_of, model, include_suppressed=include_suppressed)
    if unmasked:
        # An export of personal data: who, which day and model, how many rows, in which form.
        audit("findings.unmasked", as_of.isoformat(), dsn=dsn, model=model, rows=len(rows),
              form="json" if as_json else "csv" if as_csv else "text")
    else:
        rows = [mask_finding(r) for r in rows]
    if as_json:
        emit_json({"as_of": as_of.isoformat(), "findings": rows})
    elif as_csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(OUTPUT_COLUMNS)
        for r in rows:
            w.writerow([_csv_value(r.get(c)) for c in OUTPUT_COLUMNS])
        sys.stdout.buffer.write(("\ufeff" + buf.getvalue()).encode("utf-8"))
        sys.stdout.flush()
    else:
        for r in rows:
            click.echo("\t".join(str(r.get(c) or "") for c in ("model_code", "subject_gmsfhm", "subject_xm",
                                                               "subject_dzbm", "gajgjgdm", "first_seen")))
        notice(f"{len(rows)} 条发现（评估日 {as_of}）")


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)



@command.command("review")
@click.argument("finding_id")
@click.option("--verdict", required=True, type=click.Choice(["confirmed", "false_positive", "fixed"]),
              help="confirmed 属实, false_positive 不属实, fixed 已整改.")
@click.option("--note", default=None, help="备注.")
@click.option("--reviewer", default=None, help="复核人 (default: the login name).")
@json_option
def review(finding_id: str, verdict: str, note: str | None, reviewer: str | None, as_json: bool) -> None:
    """记录派出所对一条发现的复核结论 (a station's verdict on a finding)."""
    import dataclasses
    import getpass

    from dz_assets.db import resolve_dsn
    from dz_assets.rules.review import VERDICTS, UnknownFinding, record_review

    try:
        r = record_review(resolve_dsn(allow_embedded=True).dsn, finding_id, verdict, reviewer or getpass.getuser(), note)
    except UnknownFinding as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        emit_json(dataclasses.asdict(r))
    else:
        click.echo(f"已记录：{r.model_code} 发现 {r.finding_id}（{r.as_of}）{VERDICTS[r.verdict]}，复核人 {r.reviewer}")
