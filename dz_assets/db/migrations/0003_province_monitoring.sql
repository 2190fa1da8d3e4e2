-- Province monitoring: INCR wait alerting, and the per-day, per-source batch statistics behind
-- the requirement's 数据监控 (monitoring) and 数据对账 (reconciliation) pages.

-- When a waiting INCR batch was alerted (alert once per wait, after DZ_INCR_WAIT_ALERT_S).
alter table meta.batch add column if not exists wait_alerted_at timestamptz;

-- One row per Beijing receiving day, source and kind. "unreconciled" is declared rows that are
-- neither loaded, rejected nor duplicate: 0 on every loaded batch, or the load is wrong.
create or replace view meta.batch_daily as
select
    (b.received_at at time zone 'Asia/Shanghai')::date                      as day,
    b.source,
    b.kind,
    count(*)                                                                as deliveries,
    count(*) filter (where b.status in ('loaded', 'applied'))               as loaded,
    count(*) filter (where b.status = 'pending_apply')                      as pending_apply,
    count(*) filter (where b.status = 'waiting')                            as waiting,
    count(*) filter (where b.status = 'quarantined')                        as quarantined,
    count(*) filter (where b.status = 'duplicate')                          as duplicate,
    count(*) filter (where b.status = 'stale')                              as stale,
    count(*) filter (where b.status = 'failed')                             as failed,
    count(*) filter (where b.status in ('received', 'loading'))             as in_progress,
    coalesce(sum(b.size_bytes), 0)                                          as bytes,
    coalesce(sum(b.rows_total), 0)                                          as rows_total,
    coalesce(sum(b.rows_loaded), 0)                                         as rows_loaded,
    coalesce(sum(b.rows_rejected), 0)                                       as rows_rejected,
    coalesce(sum(b.rows_duplicate), 0)                                      as rows_duplicate,
    coalesce(sum(b.rows_flagged), 0)                                        as rows_flagged,
    coalesce(sum(b.objects), 0)                                             as objects,
    coalesce(sum(b.rows_total - b.rows_loaded - b.rows_rejected - b.rows_duplicate)
             filter (where b.status = 'loaded'), 0)                         as rows_unreconciled,
    round(avg(extract(epoch from b.finished_at - b.started_at))::numeric, 3) as avg_duration_s,
    max(b.finished_at)                                                      as last_finished_at
from meta.batch b
group by 1, 2, 3;
comment on view meta.batch_daily is '数据监控/数据对账：每个接收日（北京时间）、来源、批次类型一行（投递数、各状态批次数、记录数、入库、拒收、重复、标记、未对平记录数、平均耗时）';
