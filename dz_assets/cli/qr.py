"""``dzhub qr``: QR codes for sign making (spec/ecode-redirect.md, "Daily QR batch (T+1)").

One command, three deliveries: ``--day D`` (the daily batch, as the Dagster partition D makes it),
``--dzbm CODE…`` (a reprint of single codes) and ``--all [--division CODE]`` (the first issue).
"""

from __future__ import annotations

import click

from dz_assets.cli.output import emit_json, json_option


@click.command("qr")
@click.option("--day", "day_text", help="交付日 D（YYYYMMDD 或 YYYY-MM-DD）：D-1 新登记或变更的地址.")
@click.option("--dzbm", "codes", multiple=True, help="补打：地址编码（可重复，或其后直接列出多个）.")
@click.option("--all", "all_", is_flag=True, help="首次发码：全市（或 --division 下）全部有效地址.")
@click.option("--division", default="", help="首次发码的行政区划代码前缀，如 511702.")
@click.option("--workers", type=int, default=None, help="渲染进程数（默认 DZ_QR_WORKERS）.")
@click.argument("more_codes", nargs=-1)
@json_option
def command(day_text: str | None, codes: tuple[str, ...], all_: bool, division: str, workers: int | None,
            more_codes: tuple[str, ...], as_json: bool) -> None:
    """二维码门牌批次：按日交付（T+1）、补打、首次发码 (QR batches for sign making)."""
    from dz_assets.db import resolve_dsn
    from dz_assets.ecode import batch

    codes = (*codes, *more_codes)
    chosen = [bool(day_text), bool(codes), all_]
    if sum(chosen) != 1:
        raise click.UsageError("give exactly one of --day D, --dzbm CODE…, --all")
    if more_codes and not any(c for c in codes if c not in more_codes):
        raise click.UsageError(f"unexpected arguments: {' '.join(more_codes)} (codes follow --dzbm)")
    if division and not all_:
        raise click.UsageError("--division goes with --all")
    dsn = resolve_dsn(allow_embedded=True).dsn
    if day_text:
        try:
            day = batch.parse_day(day_text)
            made = batch.make_day_batch(dsn, day, workers=workers)
        except (ValueError, batch.DayOutOfRange) as exc:
            raise click.BadParameter(str(exc), param_hint="--day") from exc
        if as_json:
            emit_json(made.as_json())
            return
        kind = "临时批次（D-1 尚未结束，重做后替换）" if made.provisional else "正式批次"
        f = made.figures
        click.echo(f"{made.day} {kind}：{made.count} 个地址（新登记 {f.new}，变更 {f.changed}），"
                   f"全部解码校验通过 {made.verified} 个")
        click.echo(f"  {made.path}\n  sha256 {made.sha256}\n  打印单 {made.pdf_path}（{f.pdf_pages} 页）")
        return
    if codes:
        try:
            made = batch.reprint(dsn, list(codes))
        except batch.UnknownAddresses as exc:
            raise click.BadParameter(str(exc), param_hint="--dzbm") from exc
        if as_json:
            emit_json({**made.as_json(), "kind": "reprint", "dzbm": list(made.dzbm)})
            return
        click.echo(f"补打 {made.count} 个：{made.path}（打印单 {made.pdf_path}）")
        return
    bar = click.progressbar(length=1, label="首次发码", file=click.get_text_stream("stderr"))
    shown = [0]

    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - shown[0])
        shown[0] = done

    with bar:
        outcome = batch.first_issue(dsn, division, workers=workers, progress=progress)
    if as_json:
        emit_json(outcome.as_json())
        return
    click.echo(f"首次发码 {outcome.scope or '全市'}：{outcome.addresses} 个地址，{len(outcome.chunks)} 个分块"
               f"（本次生成 {outcome.made}，已完成跳过 {outcome.skipped}），{outcome.seconds:.1f} 秒")
