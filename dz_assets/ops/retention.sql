-- name: backups
-- Every backup file with when it was taken and whether a later step still needs it:
--   open       its batch is not finished (waiting, pending_apply, received, loading): the apply
--              step reads the INCR from its backup;
--   chain      it belongs to its source's restore chain: the newest loaded FULL and every FULL or
--              INCR loaded/applied after it, from which the source's current state is rebuilt
--              (and onto which its next INCR applies); a source with no loaded FULL keeps all.
-- A path several deliveries name (a duplicate that completed a move) is needed if any is.
with chain as (
    select distinct on (source) source, batch_date, batch_no
    from meta.batch where kind = 'FULL' and status = 'loaded'
    order by source, batch_date desc, batch_no desc
), judged as (
    select b.backup_path, coalesce(b.finished_at, b.received_at) as at,
           case
               when b.status in ('received', 'loading', 'waiting', 'pending_apply') then 'open'
               when b.kind in ('FULL', 'INCR') and b.status in ('loaded', 'applied')
                    and (c.source is null or (b.batch_date, b.batch_no) >= (c.batch_date, c.batch_no))
                   then 'chain'
           end as needed
    from meta.batch b left join chain c using (source)
    where b.backup_path is not null
)
select backup_path, max(at), min(needed)
from judged group by backup_path order by 1;

-- name: quarantine_subjects
-- Per quarantined subject (batch id, or the file name of a package no batch id names): resolved
-- once a delivery of the batch loaded or applied, or once no alert about it is open (an operator
-- resolved it, or a re-sent package's load resolved it).
select s.subject,
       exists (select 1 from meta.batch b where b.batch_id = s.subject and b.status in ('loaded', 'applied'))
       or not exists (select 1 from meta.alert a where a.subject = s.subject and a.resolved_at is null)
from unnest(%(subjects)s::text[]) as s(subject);

-- name: object_candidates
-- Objects stored before the cutoff with the tables whose rows reference them (none: unreferenced).
select o.sha256, o.bytes, o.store_path, array_remove(array_agg(distinct r.table_code), null)
from meta.object o left join meta.object_ref r using (sha256)
where o.stored_at < %(cutoff)s
group by o.sha256, o.bytes, o.store_path
order by o.sha256;

-- name: live_refs
-- Objects of the candidates that a live row of this ODS table still references (not deleted,
-- same key): the rows a reader of the object store could still be shown.
select distinct r.sha256
from meta.object_ref r
where r.table_code = %(table)s and r.sha256 = any(%(shas)s)
  and exists (select 1 from {ods} o where concat_ws('|', {key}) = r.row_key and not o._deleted);

-- name: forget_refs
delete from meta.object_ref where sha256 = %(sha)s;

-- name: forget_object
delete from meta.object where sha256 = %(sha)s;

-- name: latest_repairs
-- The repair request of each table's latest reconciliation: what the province is asked to send.
select distinct repair_path from (
    select distinct on (table_code) table_code, repair_path
    from meta.recon_run order by table_code, ran_at desc, recon_id desc
) latest where repair_path is not null;

-- name: next_purge
select nextval('meta.purge_run_seq');

-- name: record
insert into meta.purge_run (purge_id, kind, started_at, finished_at, dry_run, retain_days, files, bytes, kept, error,
                            rows)
values (%(purge_id)s, %(kind)s, %(started_at)s, now(), %(dry_run)s, %(retain_days)s, %(files)s, %(bytes)s,
        %(kept)s, %(error)s, %(rows)s);

-- Records kind: one statement per table, each deleting the rows older than the cutoff that no
-- later step reads. A dry run runs them in a transaction it rolls back (the counts are exact).

-- name: records_reject
-- Rejected rows and quality flags of deliveries that finished before the cutoff (an unfinished
-- delivery's rows stay: its operator is still looking at them).
delete from meta.reject r using meta.batch b
where r.delivery_id = b.delivery_id
  and b.status not in ('received', 'loading', 'waiting', 'pending_apply')
  and coalesce(b.finished_at, b.received_at) < %(cutoff)s;

-- name: records_batch_flag
delete from meta.batch_flag f using meta.batch b
where f.delivery_id = b.delivery_id
  and b.status not in ('received', 'loading', 'waiting', 'pending_apply')
  and coalesce(b.finished_at, b.received_at) < %(cutoff)s;

-- name: records_cdc_poison
delete from meta.cdc_poison where received_at < %(cutoff)s;

-- name: records_source_reject
-- A declared source's rejected records: kept with their run; a run that old is history.
delete from meta.source_reject where rejected_at < %(cutoff)s;

-- name: records_alert
-- Resolved alerts only: an open alert is a fault still there, whatever its age.
delete from meta.alert where resolved_at is not null and resolved_at < %(cutoff)s;

-- name: records_alert_silence
delete from meta.alert_silence where until < %(cutoff)s;

-- name: records_recon_run
-- Reconciliations (their buckets and keys go with them), except each table's latest: the repair
-- request the province is asked for, and what the status pages show.
delete from meta.recon_run r
where r.ran_at < %(cutoff)s
  and r.recon_id not in (select distinct on (table_code) recon_id from meta.recon_run
                         order by table_code, ran_at desc, recon_id desc);

-- name: records_purge_run
delete from meta.purge_run where finished_at < %(cutoff)s and purge_id <> %(purge_id)s;
