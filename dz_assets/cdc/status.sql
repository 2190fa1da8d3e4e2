-- name: logs
select c.relname, c.reltuples::bigint
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'raw' and c.relkind = 'r' and c.relname like '%%\_\_changes'
order by 1

-- name: pending
select count(*), min(received_at), extract(epoch from now() - min(received_at))
from {log}
where log_id > coalesce((select applied_log_id from meta.cdc_table_state where table_code = %(table)s), 0)

-- name: local_recon
-- Local reconciliation: for every key the log holds above the FULL base, the newest change must
-- be what the ODS row shows (same seq and msg_id, deleted exactly when it is a D), or the row
-- must be newer still (a later FULL has no _seq and is counted as 'rebased').
-- Rows logged before the last re-base count only when they are messages above its seq (those
-- were applied again on top); older INCR rows were superseded by the FULL.
with st as (
    select coalesce(max(applied_log_id), 0) as pos, max(base_seq) as base, max(rebased_at) as rebased_at
    from meta.cdc_table_state where table_code = %(table)s
), w as (
    select distinct on ({key}) {key}, seq, msg_id, op
    from {log}, st
    where log_id <= st.pos
      and (source <> 'mq' or st.base is null or seq > st.base)
      and (source = 'mq' or st.rebased_at is null or received_at > st.rebased_at)
    order by {key}, seq desc, msg_id desc
)
select count(*) as keys,
       count(*) filter (where o._seq = w.seq and o._msg_id = w.msg_id and o._deleted = (w.op = 'D')) as matching,
       count(*) filter (where o._seq is null and o._batch_id is not null) as rebased,
       count(*) filter (where o.{k1} is null) as missing,
       count(*) filter (where o._seq is not null and (o._seq, o._msg_id) < (w.seq, w.msg_id)) as behind,
       count(*) filter (where o._seq = w.seq and o._msg_id = w.msg_id and o._deleted <> (w.op = 'D')) as wrong_delete
from w left join {ods} o using ({key})

-- name: state
select table_code, base_seq, base_batch_id, watermark_seq, last_applied_at, last_change_ts, applied, ignored,
       deleted, channels, extract(epoch from now() - last_applied_at)
from meta.cdc_table_state order by table_code

-- name: poison
select reason_code, count(*), max(received_at) from meta.cdc_poison where queue = %(queue)s group by 1 order by 1
