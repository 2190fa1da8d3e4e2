"""``dzhub purge``: remove what is older than its retention, never what a later step needs."""

from __future__ import annotations

import sys

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
def command(dry_run: bool, as_json: bool) -> None:
    """保留期清理：备份、隔离、拒收文件、对象存储、发件箱、库内记录 (remove what is past its retention).

    Retention per kind from DZ_RETAIN_*_DAYS (0 keeps everything). Exits 1 when a kind failed
    (recorded in meta.purge_run and alerted as purge_failed)."""
    from dz_assets.db import connect
    from dz_assets.ops.retention import purge

    with connect(autocommit=True) as conn:
        result = purge(conn, dry_run=dry_run)
    if as_json:
        emit_json({"purge_id": result.purge_id, "dry_run": result.dry_run, "ok": result.ok, "kinds": [
            {"kind": k.kind, "retain_days": k.retain_days, "folder": k.folder, "files": k.files, "bytes": k.bytes,
             "rows": k.rows, "error": k.error, "removed": [{"path": r.path, "bytes": r.bytes} for r in k.removed],
             "kept": [{"path": p.path, "why": p.why} for p in k.kept]} for k in result.kinds]})
    else:
        verb = "would remove" if dry_run else "removed"
        for k in result.kinds:
            what = (", ".join(f"{n} {t}" for t, n in k.rows.items()) + " row(s)" if k.folder is None
                    else f"{k.files} file(s), {k.bytes} bytes; kept {len(k.kept)} still needed")
            notice(f"{k.kind}: {verb} {what}" + (f"; FAILED: {k.error}" if k.error else ""))
        if not result.kinds:
            notice("no retention configured (DZ_RETAIN_*_DAYS all 0): nothing removed")
    if not result.ok:
        sys.exit(1)
