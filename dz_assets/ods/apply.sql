-- name: position
-- Where the table's apply stands (the caller holds the table's apply lock).
select coalesce(applied_log_id, 0), base_seq from meta.cdc_table_state where table_code = %(table)s

-- name: upsert
-- Per key the pending change with the highest (seq, msg_id) is the candidate; it replaces the ODS
-- row only when it is newer than what the row holds, so re-applying and late arrivals are no-ops.
-- A delete keeps the row (its values) as deleted at its ts; a delete of an unknown key inserts a
-- tombstone so that an older insert arriving later cannot resurrect it. Messages at or below the
-- last FULL's BATCH@seq are already in its rows (package-format.md) and take no part.
-- A delete that applies to a row holding a change's values records, in meta.cdc_kept, which
-- change that is (the row's own, or what the delete it shows recorded), read from the snapshot
-- before the upsert. No record: the row keeps no change's values (a tombstone, a FULL's row).
-- The pending rows are read once: the same statement returns the settle figures and the log ids
-- the refill has to look at (pending I/U rows that did not become their key's ODS row; usually
-- none, and then the refill is not run).
with p as materialized (
    select * from {log} where {pending}
), w as (
    select distinct on ({key}) *
    from p
    where source <> 'mq' or %(base)s::bigint is null or seq > %(base)s::bigint
    order by {key}, seq desc, msg_id desc
), dk as (
    insert into meta.cdc_kept as k (table_code, delete_msg_id, values_seq, values_msg_id)
    select %(table)s, w.msg_id, o.values_seq, o.values_msg_id
    from w
    left join lateral (
        select o._seq, o._msg_id,
               case when o._deleted then k.values_seq else o._seq end as values_seq,
               case when o._deleted then k.values_msg_id else o._msg_id end as values_msg_id
        from {ods} o
        left join meta.cdc_kept k on o._deleted and k.table_code = %(table)s and k.delete_msg_id = o._msg_id
        where {wjoin}
        limit 1
    ) o on true
    where w.op = 'D' and o.values_seq is not null and (o._seq, o._msg_id) < (w.seq, w.msg_id)
    on conflict (table_code, delete_msg_id) do update
        set values_seq = excluded.values_seq, values_msg_id = excluded.values_msg_id
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
    returning o._deleted, o._msg_id
)
select (select count(*) from up), (select count(*) filter (where _deleted) from up),
       count(*) filter (where source = 'mq' and %(base)s::bigint is not null and seq <= %(base)s::bigint),
       count(*), max(log_id), max(seq) filter (where source = 'mq'), max(ts),
       coalesce(bool_or(source = 'mq'), false), coalesce(bool_or(source <> 'mq'), false),
       array_agg(log_id) filter (where op <> 'D' and msg_id not in (select _msg_id from up))
from p

-- name: refill_deleted
-- A deleted row keeps the values of the newest I/U below its delete, as if every change had been
-- applied in seq order: when such an I/U arrives after the delete (or in the same micro-batch), it
-- refills the row if it is newer than the change the row's values came from (meta.cdc_kept, by
-- the delete's msg_id), and becomes that change. Only the log ids the upsert named are looked at
-- (rare); each looks its ODS row up by key (the lateral LIMIT keeps it a key lookup: a hash join
-- scanned the whole ODS table per micro-batch, ~0.1 s at a million rows).
with late as (
    select distinct on ({pkey}) p.*, o._msg_id as delete_msg_id
    from {log} p
    cross join lateral (
        select o._msg_id from {ods} o
        where {pjoin} and o._deleted and o._seq is not null and (p.seq, p.msg_id) < (o._seq, o._msg_id)
        limit 1
    ) o
    where p.log_id = any(%(cand)s::bigint[]) and p.op <> 'D'
      and (p.source <> 'mq' or %(base)s::bigint is null or p.seq > %(base)s::bigint)
    order by {pkey}, p.seq desc, p.msg_id desc
), v as (
    select l.*
    from late l
    left join lateral (  -- a key lookup (as a hash join it read the table's every record)
        select k.values_seq, k.values_msg_id from meta.cdc_kept k
        where k.table_code = %(table)s and k.delete_msg_id = l.delete_msg_id
        limit 1
    ) k on true
    where k.values_seq is null or (k.values_seq, k.values_msg_id) < (l.seq, l.msg_id)
), kept as (
    insert into meta.cdc_kept as k (table_code, delete_msg_id, values_seq, values_msg_id)
    select %(table)s, delete_msg_id, seq, msg_id from v
    on conflict (table_code, delete_msg_id) do update
        set values_seq = excluded.values_seq, values_msg_id = excluded.values_msg_id
)
update {ods} o set {sets}, _extra = nullif(w.data - %(known)s::text[], '{{}}'::jsonb)
from v w
where {join} and o._deleted

-- name: state_upsert
insert into meta.cdc_table_state as s (table_code, applied_log_id, watermark_seq, last_applied_at, last_change_ts,
                                       applied, ignored, deleted, channels)
values (%(table)s, coalesce(%(log_id)s, 0), %(watermark)s, now(), %(last_ts)s, %(applied)s, %(ignored)s, %(deleted)s, %(channels)s)
on conflict (table_code) do update set
    applied_log_id = greatest(s.applied_log_id, excluded.applied_log_id),
    watermark_seq = greatest(s.watermark_seq, excluded.watermark_seq),
    last_applied_at = now(),
    last_change_ts = greatest(s.last_change_ts, excluded.last_change_ts),
    applied = s.applied + excluded.applied,
    ignored = s.ignored + excluded.ignored,
    deleted = s.deleted + excluded.deleted,
    channels = array(select distinct unnest(s.channels || excluded.channels) order by 1)
returning base_seq, channels, both_alerted

-- name: rebase_state
insert into meta.cdc_table_state as s (table_code, base_seq, base_batch_id, rebased_at)
values (%(table)s, %(base)s, %(batch_id)s, now())
on conflict (table_code) do update set base_seq = excluded.base_seq,
    base_batch_id = excluded.base_batch_id, rebased_at = now()

-- name: position_to_end
update meta.cdc_table_state set applied_log_id = (select coalesce(max(log_id), 0) from {log})
where table_code = %(table)s

-- name: kept_backfill
-- Once per change log created before meta.cdc_kept: every deleted row records the change its
-- values came from, the newest I/U below its delete (what the refill kept them at), read through
-- the log's (key, seq) index before that index is dropped.
with st as (select max(base_seq) as base from meta.cdc_table_state where table_code = %(table)s)
insert into meta.cdc_kept (table_code, delete_msg_id, values_seq, values_msg_id)
select %(table)s, o._msg_id, l.seq, l.msg_id
from st, {ods} o
cross join lateral (
    select l.seq, l.msg_id from {log} l
    where {ljoin} and l.op <> 'D' and (l.source <> 'mq' or st.base is null or l.seq > st.base)
      and (l.seq, l.msg_id) < (o._seq, o._msg_id)
    order by l.seq desc, l.msg_id desc
    limit 1
) l
where o._deleted and o._seq is not null
on conflict (table_code, delete_msg_id) do nothing
