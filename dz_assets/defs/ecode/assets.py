"""``meta/qr_batch``: the daily T+1 QR batch as a Dagster asset, one partition per delivery day
D (Beijing), what ``dzhub qr --day D`` does; its check holds that the zip holds every address
the day's comparison selects. ``meta/address_state`` is declared for lineage: the database
writes it (triggers on the ODS address tables and the FULL swap's hook, migration 0012)."""

import dataclasses
import zipfile

import dagster as dg

from dz_assets.defs.keys import ods_key
from dz_assets.defs.resources import PathsResource, WarehouseResource
from dz_assets.ecode import batch, history
from dz_assets.ecode.package import MANIFEST

QR_BATCH_KEY = dg.AssetKey(["meta", "qr_batch"])
ADDRESS_STATE_KEY = dg.AssetKey(["meta", "address_state"])

address_state = dg.AssetSpec(
    key=ADDRESS_STATE_KEY, group_name="ecode", kinds={"postgres"},
    deps=[ods_key("YBSS_BZDZMLXX"), ods_key("YBSS_BZDZCHXX")],
    description="每个标准地址（门楼、层户）的每个状态一行：平台记录时间与来源时间，"
                "由全量包、增量包和变更消息写入 ODS 时同步记录（数据库触发器与全量切换）。",
)

# Delivery days from the start of 2026; end_offset=1: day D's partition exists during day D,
# since its batch (the changes of D-1) is made in the first minutes of D.
qr_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="Asia/Shanghai", end_offset=1)

COMPLETE_CHECK = "every_selected_address_delivered"


@dg.asset(
    key=QR_BATCH_KEY, group_name="ecode", kinds={"postgres", "python"}, partitions_def=qr_days,
    deps=[ADDRESS_STATE_KEY],
    check_specs=[dg.AssetCheckSpec(COMPLETE_CHECK, asset=QR_BATCH_KEY,
                                   description="当日比对选出的每个地址都在批次压缩包中")],
    description="每个交付日一个压缩包：前一日新登记或变更的标准地址二维码（每地址一张带地址名称的 PNG、"
                "manifest.csv 与 A4 打印单），每个二维码交付前经独立解码器校验。",
)
def qr_batch(context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: PathsResource):
    day = qr_days.time_window_for_partition_key(context.partition_key).start.date()
    made = batch.make_day_batch(warehouse.resolved_dsn(), day, outbox=paths.path("outbox"))
    f = made.figures
    yield dg.MaterializeResult(metadata={
        "day": dg.MetadataValue.text(day.isoformat()),
        "dagster/row_count": dg.MetadataValue.int(made.count),
        "path": dg.MetadataValue.path(str(made.path)),
        "sha256": dg.MetadataValue.text(made.sha256),
        "provisional": dg.MetadataValue.bool(made.provisional),
        "verified": dg.MetadataValue.int(made.verified),
        "new": dg.MetadataValue.int(f.new),
        "changed": dg.MetadataValue.int(f.changed),
        "print_sheet": dg.MetadataValue.path(str(made.pdf_path)),
        "codes_per_s": dg.MetadataValue.float(f.codes_per_s),
        "figures": dg.MetadataValue.json(dataclasses.asdict(f)),
    })
    with warehouse.connect() as conn:
        selected = [a.dzbm for a in history.day_addresses(conn, day)]
    with zipfile.ZipFile(made.path) as zf:
        lines = zf.read(MANIFEST).decode("utf-8-sig").split("\r\n")[1:]
    delivered = {line.split(",", 1)[0] for line in lines if line}
    missing = [c for c in selected if c not in delivered]
    yield dg.AssetCheckResult(
        check_name=COMPLETE_CHECK, passed=not missing,
        metadata={"selected": dg.MetadataValue.int(len(selected)), "delivered": dg.MetadataValue.int(len(delivered)),
                  "missing": dg.MetadataValue.json(missing[:100])},
        description=f"缺少 {len(missing)} 个地址：{'、'.join(missing[:10])}" if missing else None,
    )


qr_daily_job = dg.define_asset_job(
    "qr_daily_batch", selection=dg.AssetSelection.assets(QR_BATCH_KEY),
    description="每日二维码批次（T+1）：交付日 D = 分区日，收录 D-1 新登记或变更的标准地址。",
)

# 00:30 Beijing on day D, for partition D: D-1 has ended (its batch is final, not provisional),
# and the half hour lets the change stream's last micro-batches of D-1 commit. On by default.
qr_daily_schedule = dg.build_schedule_from_partitioned_job(
    qr_daily_job, hour_of_day=0, minute_of_hour=30, default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每日 00:30（北京时间）生成当日交付的二维码批次（前一日新登记或变更的地址）",
)
