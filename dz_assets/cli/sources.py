"""``dzhub sources list|check|run|reset``: the declarative sources of spec/source-config.md."""

from __future__ import annotations

import sys

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.group("sources")
def command() -> None:
    """汇聚数据源：数据库表、HTTP 接口与文件，按 YAML 配置 (declarative sources)."""


@command.command("check")
@json_option
def check(as_json: bool) -> None:
    """Validate every YAML file of DZ_SOURCES_DIR; each error names its file and key (exit 1)."""
    from dz_assets.sources.config import load_sources, sources_dir

    loaded = load_sources()
    errors = [{"file": e.file, "key": e.key, "message": e.message} for e in loaded.errors]
    if as_json:
        emit_json({"ok": not errors, "dir": str(sources_dir()), "files": loaded.files,
                   "sources": [s.id for s in loaded.sources], "errors": errors})
    else:
        for e in loaded.errors:
            click.echo(str(e))
        notice(f"{loaded.files} file(s) in {sources_dir()}: {len(loaded.sources)} valid, "
               f"{len(errors)} error(s)")
    if errors:
        sys.exit(1)


@command.command("list")
@json_option
def list_(as_json: bool) -> None:
    """Each source with its status: enabled, last run, rows, rejects, last error."""
    from dz_assets.sources.status import source_list

    items = source_list()
    if as_json:
        emit_json({"sources": [i.as_json() for i in items]})
        return
    for i in items:
        last = i.last_run_at.isoformat(timespec="seconds") if i.last_run_at else "-"
        click.echo(f"{i.id}\t{i.kind}\t{'on' if i.enabled else 'off'}\t{last}\tread={i.rows_read} "
                   f"loaded={i.rows_loaded} rejected={i.rows_rejected}\t{i.last_error or ''}\t{i.name}")


@command.command("run")
@click.argument("source_id")
@json_option
def run(source_id: str, as_json: bool) -> None:
    """Run one source now (nothing of a failed run is committed)."""
    from dz_assets.sources.config import load_sources
    from dz_assets.sources.run import SourceRunFailed, run_source

    loaded = load_sources()
    cfg = loaded.by_id(source_id)
    if cfg is None:
        bad = [e for e in loaded.errors]
        message = f"no valid source {source_id}" + (f" ({len(bad)} config error(s): dzhub sources check)"
                                                     if bad else "")
        if as_json:
            emit_json({"id": source_id, "error": "unknown_source", "message": message})
        else:
            notice(message)
        sys.exit(1)
    try:
        result = run_source(cfg, log=notice)
    except SourceRunFailed as exc:
        if as_json:
            emit_json({"id": source_id, "error": "failed", "message": str(exc)})
        else:
            notice(str(exc))
        sys.exit(1)
    if as_json:
        emit_json(result.as_json())
    else:
        notice(f"{cfg.id}: read {result.read}, loaded {result.loaded}, rejected {result.rejected}, "
               f"changed {result.changed}, deleted {result.deleted} in {result.duration_s:.2f} s")


@command.command("reset")
@click.argument("source_id")
@json_option
def reset(source_id: str, as_json: bool) -> None:
    """Forget a source's cursor and read files: the next run reads everything again."""
    from dz_assets.sources.run import reset_source

    reset_source(source_id)
    if as_json:
        emit_json({"id": source_id, "reset": True})
    else:
        notice(f"{source_id}: cursor and read files forgotten; the next run reads everything")


@command.command("rejects")
@click.argument("source_id")
@click.option("--run", "run_id", help="Only this run's rejects (default: the last run's).")
@json_option
def rejects(source_id: str, run_id: str | None, as_json: bool) -> None:
    """The records a source's run rejected: position, field, reason (and the raw record)."""
    from dz_assets.sources.status import source_rejects

    items = source_rejects(source_id, run_id)
    if as_json:  # the raw records leave the warehouse: personal data exported, audited
        from dz_assets.db import connect
        from dz_assets.security.audit import audit_in

        with connect() as conn:
            audit_in(conn, "sources.rejects.export", source_id, run=run_id, count=len(items))
            conn.commit()
        emit_json({"id": source_id, "count": len(items), "rejects": [i.__dict__ for i in items]})
        return
    for r in items:
        click.echo(f"{r.position}\t{r.field or '-'}\t{r.reason}")
    notice(f"{len(items)} rejected record(s) of {source_id}")
