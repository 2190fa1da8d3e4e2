"""``dzhub synth``: the synthetic city as packages (``packages``) and change messages (``messages``)."""

from __future__ import annotations

from pathlib import Path

import click

from dz_assets.cli.output import emit_json, json_option, notice


def _list_defects(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Eager: lists the defects before the required options are asked for."""
    if not value or ctx.resilient_parsing:
        return
    from dz_assets.synth import ALL_DEFECTS

    click.echo("\n".join(ALL_DEFECTS))
    ctx.exit()


@click.group("synth")
def command() -> None:
    """合成城市 (synthetic city): deterministic packages and change messages for tests and benchmarks."""


@command.command("packages")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--persons", type=click.IntRange(1), required=True, help="Residents of the city.")
@click.option("--seed", type=int, required=True)
@click.option("--kind", type=click.Choice(["FULL", "INCR", "RECON"], case_sensitive=False), default="FULL")
@click.option("--date", "date", default=None, help="YYYYMMDD (FULL/RECON: 20261120; INCR: the day after).")
@click.option("--base-date", default="20261120", show_default=True, help="Day of the city the INCR changes.")
@click.option("--nnnn", type=click.IntRange(1, 9999), default=1, show_default=True)
@click.option("--source", default="SCGA", show_default=True)
@click.option("--prev", default="", help="INCR: the batch id of the previous INCR (BATCH@prev).")
@click.option("--tables", default=None, help="Comma-separated table codes (default: all).")
@click.option("--defect", "defects", multiple=True, help="Plant a defect (repeatable); see --list-defects.")
@click.option("--encoding", type=click.Choice(["UTF-8", "GB18030"], case_sensitive=False), default="UTF-8")
@click.option("--crlf", is_flag=True, help="End records with CRLF.")
@click.option("--records-per-file", type=click.IntRange(1), default=500_000, show_default=True)
@click.option("--list-defects", is_flag=True, is_eager=True, expose_value=False, callback=_list_defects,
              help="Print the defect names and exit (no other option needed).")
@json_option
def packages(out_dir, persons, seed, kind, date, base_date, nnnn, source, prev, tables, defects, encoding,
             crlf, records_per_file, as_json) -> None:
    """Write <BATCH_ID>.zip + <BATCH_ID>.zip.ok into OUT (spec/package-format.md)."""
    from dz_assets.synth import write_package

    try:
        info = write_package(out_dir, persons=persons, seed=seed, kind=kind, date=date, nnnn=nnnn,
                             source=source, tables=tables.split(",") if tables else None, defects=defects,
                             encoding=encoding, crlf=crlf, records_per_file=records_per_file, prev=prev,
                             base_date=base_date, progress=notice)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        emit_json(info.as_json())
    else:
        click.echo(f"{info.zip_path}  {info.rows} rows  sha256 {info.sha256}")


@command.command("messages")
@click.option("--persons", type=click.IntRange(1), required=True)
@click.option("--seed", type=int, required=True)
@click.option("--date", default=None, help="Day of the changes (default: the day after --base-date).")
@click.option("--base-date", default="20261120", show_default=True)
@click.option("--count", type=click.IntRange(1), default=None, help="At most this many changes.")
@click.option("--batch-size", type=click.IntRange(1), default=1, show_default=True,
              help="Changes per message (>1: JSON arrays).")
@click.option("--poison", multiple=True, help="Also send a poison message of this kind (repeatable).")
@click.option("--tables", default=None, help="Comma-separated table codes (default: all).")
@click.option("--amqp-url", default=None, help="Default: DZ_AMQP_URL.")
@click.option("--exchange", default=None, help="Default: DZ_CDC_EXCHANGE (dz.cdc).")
@json_option
def messages(persons, seed, date, base_date, count, batch_size, poison, tables, amqp_url, exchange,
             as_json) -> None:
    """Publish one day of changes to the change-stream exchange (DZ_CDC_EXCHANGE; spec/change-messages.md)."""
    from dz_assets.settings import get_settings
    from dz_assets.synth import POISON_KINDS, publish_messages

    bad = [p for p in poison if p not in POISON_KINDS]
    if bad:
        raise click.UsageError(f"unknown poison kind(s) {bad}; known: {', '.join(POISON_KINDS)}")
    s = get_settings()
    summary = publish_messages(amqp_url or s.amqp_url, persons=persons, seed=seed, date=date,
                               base_date=base_date, count=count, batch_size=batch_size, poison=poison,
                               exchange=exchange or s.cdc_exchange,
                               tables=tables.split(",") if tables else None)
    notice(f"published {summary['messages']} messages ({summary['changes']} changes) to {summary['exchange']}")
    if as_json:
        emit_json(summary)
