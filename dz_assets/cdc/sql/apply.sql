-- name: ignore_below_base
-- Messages at or below the last FULL's BATCH@seq are already in its rows (package-format.md).
update {log} set applied_at = now(), outcome = 'base'
where applied_at is null and source = 'mq' and seq <= %(base)s

-- name: upsert
-- Per key the pending change with the highest (seq, msg_id) is the candidate; it replaces the ODS
-- row only when it is newer than what the row holds, so re-applying and late arrivals are no-ops.
-- A delete keeps the row (its values) as deleted at its ts; a delete of an unknown key inserts a
-- tombstone so that an older insert arriving later cannot resurrect it.
with w as (
    select distinct on ({key}) *
    from {log}
    where applied_at is null
    order by {key}, seq desc, msg_id desc
), up as (
    insert into {ods} as o ({cols}, _deleted, _deleted_at, _valid_from, _batch_id, _file, _line,
                            _msg_id, _seq, _extra, _loaded_at)
    select {exprs}, w.op = 'D', case when w.op = 'D' then w.ts end, w.ts,
           case when w.source <> 'mq' then w.source end, w.file, w.line, w.msg_id, w.seq,
           case when w.op = 'D' then null else nullif(w.data - %(known)s::text[], '{{}}'::jsonb) end, now()
    from w
    on conflict ({key}) do update set {sets},
        _deleted = excluded._deleted, _deleted_at = excluded._deleted_at,
        _valid_from = excluded._valid_from, _batch_id = excluded._batch_id, _file = excluded._file,
        _line = excluded._line, _msg_id = excluded._msg_id, _seq = excluded._seq,
        _extra = case when excluded._deleted then o._extra else excluded._extra end,
        _loaded_at = now()
    where o._seq is null or (o._seq, o._msg_id) < (excluded._seq, excluded._msg_id)
    returning o._deleted
)
select count(*), count(*) filter (where _deleted) from up

-- name: mark_applied
with m as (
    update {log} set applied_at = now(), outcome = 'merged' where applied_at is null
    returning seq, ts, source
)
select count(*), max(seq) filter (where source = 'mq'), max(ts), bool_or(source = 'mq'),
       bool_or(source <> 'mq')
from m

-- name: state_upsert
insert into meta.cdc_table_state as s (table_code, watermark_seq, last_applied_at, last_change_ts,
                                       applied, ignored, deleted, channels)
values (%(table)s, %(watermark)s, now(), %(last_ts)s, %(applied)s, %(ignored)s, %(deleted)s, %(channels)s)
on conflict (table_code) do update set
    watermark_seq = greatest(s.watermark_seq, excluded.watermark_seq),
    last_applied_at = now(),
    last_change_ts = greatest(s.last_change_ts, excluded.last_change_ts),
    applied = s.applied + excluded.applied,
    ignored = s.ignored + excluded.ignored,
    deleted = s.deleted + excluded.deleted,
    channels = array(select distinct unnest(s.channels || excluded.channels) order by 1)
returning base_seq, channels, both_alerted

-- name: base_of
select base_seq from meta.cdc_table_state where table_code = %(table)s

-- name: rebase_state
insert into meta.cdc_table_state as s (table_code, base_seq, base_batch_id, rebased_at)
values (%(table)s, %(base)s, %(batch_id)s, now())
on conflict (table_code) do update set base_seq = excluded.base_seq,
    base_batch_id = excluded.base_batch_id, rebased_at = now()

-- name: reopen_above_base
-- After a FULL swap the ODS rows are the FULL's (no _seq): messages above its seq apply again on top.
update {log} set applied_at = null, outcome = null where source = 'mq' and seq > %(base)s

-- name: close_at_or_below_base
update {log} set applied_at = coalesce(applied_at, now()), outcome = 'base'
where source = 'mq' and seq <= %(base)s and (applied_at is null or outcome is distinct from 'base')

-- name: refill_deleted
-- A deleted row keeps the values of the newest I/U below its delete, as if every change had been
-- applied in seq order: when that I/U arrives after the delete (or in the same micro-batch), the
-- row's values are refilled from the log. Touches only keys whose row is deleted.
with k as (
    select distinct {key} from {log} where applied_at is null and op <> 'D'
), v as (
    select distinct on ({lkey}) l.*
    from {log} l join k using ({key}) join {ods} o using ({key})
    where o._deleted and o._seq is not null and l.op <> 'D'
      and l.outcome is distinct from 'base' and (l.seq, l.msg_id) < (o._seq, o._msg_id)
    order by {lkey}, l.seq desc, l.msg_id desc
)
update {ods} o set {sets}, _extra = nullif(w.data - %(known)s::text[], '{{}}'::jsonb)
from v w
where {join} and o._deleted
