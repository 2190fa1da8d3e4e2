"""``dzhub status``: the platform's health in one object, for outside monitors."""

from __future__ import annotations

import dataclasses
import sys

import click

from dz_assets.cli.output import emit_json, json_option

DOWN_EXIT = 2  # 1 is any command's error; 2 says the check ran and found the platform down


@click.command("status")
@json_option
def command(as_json: bool) -> None:
    """平台状态：服务、各来源最新批次、增量延迟、未恢复告警、每日任务、磁盘 (platform health).

    Exits 2 when something is down: PostgreSQL or RabbitMQ unreachable, or an alert of severity
    error or critical still open (not resolved)."""
    from dz_assets.ops.status import platform_status

    st = platform_status()
    if as_json:
        emit_json(dataclasses.asdict(st))
    else:
        _print_human(st)
    if not st.ok:
        sys.exit(DOWN_EXIT)


def _t(value) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _print_human(st) -> None:
    echo = click.echo
    echo(f"平台状态：{'正常' if st.ok else '异常'}（检查于 {_t(st.checked_at)}）")
    for reason in st.down:
        echo(f"  ✗ {reason}")
    echo("服务：")
    for s in st.services:
        echo(f"  {s.name}\t{'可达' if s.ok else '不可达'}\t{s.where}" + (f"\t{s.error}" if s.error else ""))
    echo("各来源最新批次：")
    for b in st.batches:
        echo(f"  {b.source}\t{b.batch_id}\t{b.status}\t接收 {_t(b.received_at)}\t最近入库 {_t(b.last_loaded_at)}")
    if not st.batches:
        echo("  （暂无）")
    if st.change_stream:
        c = st.change_stream
        lag = f"{c.lag_s:g} 秒" if c.lag_s is not None else "未知"
        echo(f"增量同步：待应用 {c.pending} 条，延迟 {lag}（阈值 {c.max_lag_s:g} 秒，{'正常' if c.lag_ok else '超限'}）")
    names = {"critical": "严重", "error": "错误", "warning": "警告", "info": "提示"}
    echo("未恢复告警：" + ("，".join(f"{names.get(k, k)} {v}" for k, v in sorted(st.alerts_open.items()))
                          if st.alerts_open else "无"))
    echo("任务最近成功运行：")
    for r in st.job_runs:
        echo(f"  {r.job}\t{_t(r.succeeded_at)}")
    if not st.job_runs:
        echo("  （尚无记录）")
    echo("磁盘：")
    for d in st.disks:
        echo(f"  {d.mount}\t已用 {d.used_pct}%\t剩余 {d.free_bytes / 2**30:.1f} GiB\t（{d.path}）")
