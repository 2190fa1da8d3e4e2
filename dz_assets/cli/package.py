"""``dzhub package``: judge a provincial package (``check``) or load it (``load``).

Both print the verdict object of package-format.md ("Verdicts"); with ``--json`` it is the one
JSON object on standard output, and the exit status is 0 whenever a verdict was printed, valid
or not. ``check`` needs no database; ``load`` runs the asset's code path on a copy of PATH.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dz_assets.cli.output import emit_json, json_option, notice

if TYPE_CHECKING:  # the commands import the domain when they run: `dzhub --help` stays quick
    from dz_assets.province.delivery.outcome import Outcome
    from dz_assets.province.reader.verdict import Verdict

MAX_REJECTS_SHOWN = 20


class Terminated(Exception):  # noqa: N818 (reads as what happened: the load was terminated)
    """SIGTERM, raised where the load is so that its ``except Exception`` paths clean up."""


def _terminated(signum: int, _frame) -> None:
    raise Terminated(signal.Signals(signum).name)


@click.group("package")
def command() -> None:
    """省厅数据包：检查、加载 (provincial packages: check and load)."""


def _summary(v: Verdict | Outcome) -> None:
    state = "valid" if v.valid else "INVALID"
    rows = v.rows
    click.echo(f"{v.batch_id}: {state}; rows total {rows.total}, rejected {rows.rejected}, flagged {rows.flagged}")
    for e in v.errors:
        click.echo(f"  error {e['code']}: {e['message']}")
    for d in v.drift or []:
        click.echo(f"  drift {d['table']}: missing {d['missing']}, extra {d['extra']}, reordered {d['reordered']}")
    rejects = v.rejects
    for r in rejects[:MAX_REJECTS_SHOWN]:
        click.echo(f"  reject {r['file']} line {r['line']} field {r['field'] or '-'}: {r['reason']}")
    if len(rejects) > MAX_REJECTS_SHOWN:
        click.echo(f"  … {len(rejects) - MAX_REJECTS_SHOWN} more rejects (--json lists them all)")
    if getattr(v, "status", None) is not None:
        click.echo(f"  status {v.status}")


@command.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--marker", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The .ok marker (default: PATH.ok beside the zip).")
@json_option
def check(path: Path, marker: Path | None, as_json: bool) -> None:
    """Run every package- and row-level check of PATH; nothing is loaded, no database is needed."""
    from dz_assets.province.reader.verdict import check_verdict

    verdict = check_verdict(path, marker)
    emit_json(verdict.as_json()) if as_json else _summary(verdict)


@command.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def load(path: Path, as_json: bool) -> None:
    """Register and load PATH (a copy of it: PATH stays where it is), as the Dagster asset does."""
    from dz_assets.db import resolve_dsn
    from dz_assets.province.delivery.pipeline import load_package_copy
    from dz_assets.security.audit import audit

    r = resolve_dsn(allow_embedded=True)
    notice(r.describe())
    # SIGTERM (systemd, docker stop, kill) takes the load's ordinary failure path: the batch is
    # marked failed (a later run retries it) and the package's work copy is removed.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        verdict = load_package_copy(path, dsn=r.dsn)
    except Terminated as exc:
        notice(f"{path.name}: load stopped by {exc}; the batch is marked failed and can be loaded again")
        sys.exit(128 + signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    out = verdict.as_json()
    audit("package.load", out.get("batch_id"), dsn=r.dsn, path=str(path), status=out.get("status"),
          rows=(out.get("rows") or {}).get("total"))
    emit_json(out) if as_json else _summary(verdict)
