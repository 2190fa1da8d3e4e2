-- name: batches
-- Deliveries per source, kind and status, with their row figures (a few hundred rows a year per
-- source: a scan of meta.batch is cheap).
select source, kind, status, count(*),
       coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0),
       coalesce(sum(rows_flagged), 0), coalesce(sum(rows_duplicate), 0),
       extract(epoch from max(finished_at) filter (where status in ('loaded', 'applied')))
from meta.batch
group by 1, 2, 3
order by 1, 2, 3;

-- name: objects
select count(*), coalesce(sum(bytes), 0) from meta.object;

-- name: cdc_applied
select coalesce(sum(applied), 0), coalesce(sum(deleted), 0), coalesce(sum(ignored), 0)
from meta.cdc_table_state;

-- name: poison
select reason_code, count(*) from meta.cdc_poison group by 1 order by 1;

-- name: open_alerts
select code, severity, count(*) from meta.alert where resolved_at is null group by 1, 2 order by 1, 2;

-- name: job_runs
select job, extract(epoch from succeeded_at) from meta.job_run order by 1;

-- name: purged
select kind, coalesce(sum(files), 0), coalesce(sum(bytes), 0)
from meta.purge_run where not dry_run group by 1 order by 1;
