-- name: register
-- A new delivery, or the still-open one of the same bytes (the sensor registers, the run resumes).
with open_row as (
    select delivery_id from meta.batch
    where batch_id = %(batch_id)s and sha256 = %(sha256)s and status = 'received'
    order by delivery_id desc limit 1
), ins as (
    insert into meta.batch (batch_id, source, kind, batch_date, batch_no, file_name, size_bytes,
                            sha256, status)
    select %(batch_id)s, %(source)s, %(kind)s, %(batch_date)s, %(batch_no)s, %(file_name)s,
           %(size_bytes)s, %(sha256)s, 'received'
    where not exists (select 1 from open_row)
    returning delivery_id
)
select delivery_id from ins union all select delivery_id from open_row;

-- name: taken
-- The delivery that holds the batch id (loaded once, or set on its way to being applied).
select delivery_id, status, sha256, backup_path from meta.batch
where batch_id = %(batch_id)s and status in ('loaded', 'pending_apply', 'applied', 'waiting')
order by delivery_id limit 1;

-- name: newest_applied
-- The newest FULL/INCR batch of the source already applied: anything older is stale.
select batch_id, batch_date, batch_no from meta.batch
where source = %(source)s and kind in ('FULL', 'INCR') and status in ('loaded', 'applied')
  and batch_id <> %(batch_id)s
order by batch_date desc, batch_no desc limit 1;

-- name: swapped_interrupted
-- FULL deliveries left 'loading' by a loader that died after its swap committed: the swap's
-- transaction wrote their meta.batch_file rows, and no other session holds the batch's lock.
select b.delivery_id, b.batch_id, b.source, b.seq,
       array(select distinct f.table_code from meta.batch_file f where f.delivery_id = b.delivery_id)
from meta.batch b
where b.status = 'loading' and b.kind = 'FULL'
  and (%(source)s::text is null or b.source = %(source)s)
  and (%(batch_id)s::text is null or b.batch_id = %(batch_id)s)
  and exists (select 1 from meta.batch_file f where f.delivery_id = b.delivery_id)
  and not exists (
      select 1 from pg_locks l
      where l.locktype = 'advisory' and l.objsubid = 1 and l.granted and l.pid <> pg_backend_pid()
        and ((l.classid::bigint << 32) | l.objid::bigint)
            = hashtextextended('dz.province.batch:' || b.batch_id, 0))
order by b.batch_date, b.batch_no, b.delivery_id;

-- name: mark_recovered
-- A delivery whose swap committed is loaded: its figures are the ones the swap recorded.
update meta.batch b set status = 'loaded', finished_at = now(), reason = %(reason)s,
       rows_total = f.declared, rows_loaded = f.loaded, rows_rejected = f.rejected,
       rows_duplicate = f.duplicate, rows_flagged = f.flagged
from (select sum(records) as declared, sum(rows_loaded) as loaded, sum(rows_rejected) as rejected,
             sum(rows_duplicate) as duplicate, sum(rows_flagged) as flagged
      from meta.batch_file where delivery_id = %(delivery_id)s) f
where b.delivery_id = %(delivery_id)s and b.status = 'loading';

-- name: abandon_interrupted
-- Deliveries left 'loading' by a loader that died before its swap committed (the caller holds
-- the batch's advisory lock, so no live loader owns them, and has recovered those whose swap
-- committed): their partial figures go, the ODS tables are the previous ones.
with gone as (
    update meta.batch set status = 'failed', finished_at = now(),
           reason = 'interrupted: the loader stopped before finishing; superseded by delivery '
                    || %(by)s::text
    where batch_id = %(batch_id)s and status = 'loading' and delivery_id <> %(by)s
    returning delivery_id
), r as (delete from meta.reject where delivery_id in (select delivery_id from gone)),
   f as (delete from meta.batch_file where delivery_id in (select delivery_id from gone)),
   g as (delete from meta.batch_flag where delivery_id in (select delivery_id from gone))
select delivery_id from gone;

-- name: overdue_waits
-- INCR batches waiting longer than the threshold and not alerted yet.
update meta.batch set wait_alerted_at = now()
where status = 'waiting' and wait_alerted_at is null
  and received_at < now() - make_interval(secs => %(threshold_s)s)
returning delivery_id, batch_id, source, prev, received_at;

-- name: release_waiting
-- INCR batches whose prev is now applied (or loaded) can go on to the apply step.
update meta.batch w set status = 'pending_apply', reason = null
where w.status = 'waiting' and w.source = %(source)s
  and exists (select 1 from meta.batch p
              where p.batch_id = w.prev and p.status in ('loaded', 'applied'))
returning w.delivery_id, w.batch_id;

-- name: pending_incr
-- INCR batches recorded 'pending_apply' (the caller holds the source's lock, under which every
-- apply runs: nobody is applying them), in BATCH_ID order.
select delivery_id, batch_id, source, backup_path from meta.batch
where status = 'pending_apply' and kind = 'INCR' and (%(source)s::text is null or source = %(source)s)
order by source, batch_date, batch_no, delivery_id;
