-- name: batch_status
-- 批次登记: deliveries per status (a small group-by: one row per delivery, thousands, not millions).
select status, count(*)::bigint as n from meta.batch group by 1 order by 2 desc;

-- name: batch_daily
select day, count(*)::bigint as deliveries
from (select (received_at at time zone 'Asia/Shanghai')::date as day from meta.batch
      where received_at >= now() - interval '30 days') b
group by 1 order by 1;

-- name: batches
-- One page of deliveries, newest first, by keyset on delivery_id.
select delivery_id, batch_id, source, kind, status, received_at, started_at, finished_at,
       extract(epoch from finished_at - started_at)::double precision as duration_s,
       size_bytes, rows_total, rows_loaded, rows_rejected, rows_duplicate, rows_flagged, objects, reason
from meta.batch
where (%(before)s::bigint is null or delivery_id < %(before)s::bigint)
  and (%(q)s::text is null or batch_id like %(q)s::text || '%%' or file_name like %(q)s::text || '%%')
  and (%(source)s::text is null or source = %(source)s::text)
  and (%(status)s::text is null or status = %(status)s::text)
  and (%(kind)s::text is null or kind = %(kind)s::text)
order by delivery_id desc
limit %(limit)s;

-- name: batch
select delivery_id, batch_id, source, kind, status, batch_date, file_name, size_bytes, sha256, created, seq, prev,
       received_at, started_at, finished_at,
       extract(epoch from finished_at - started_at)::double precision as duration_s,
       reason, rows_total, rows_loaded, rows_rejected, rows_duplicate, rows_flagged, objects,
       backup_path, quarantine_path, errors, drift
from meta.batch where delivery_id = %(delivery_id)s;

-- name: batch_files
select table_code, file_name, records, bytes, rows_loaded, rows_rejected, rows_duplicate, rows_flagged, duration_s
from meta.batch_file where delivery_id = %(delivery_id)s order by file_name;

-- name: batch_flags
select table_code, field, flag, rows, sample_file, sample_line
from meta.batch_flag where delivery_id = %(delivery_id)s order by rows desc, table_code, field limit 200;

-- name: rejects
-- One page of a delivery's rejects by keyset (index reject_delivery); never the raw line here.
select reject_id, table_code, file_name, line, field, reason
from meta.reject
where delivery_id = %(delivery_id)s and reject_id > %(after)s
order by reject_id
limit %(limit)s;

-- name: rejects_csv
-- The CSV's rows, streamed; raw_line only for a login granted it ({raw} is raw_line or null).
select batch_id, delivery_id, table_code, file_name, line, field, reason, {raw}
from meta.reject
where delivery_id = %(delivery_id)s
order by reject_id;

-- name: monitoring
select day, source, kind, deliveries, loaded, quarantined, failed, duplicate, waiting, in_progress,
       rows_total, rows_loaded, rows_rejected, rows_duplicate, rows_flagged, objects, rows_unreconciled,
       avg_duration_s::double precision, last_finished_at
from meta.batch_daily
where day >= (now() at time zone 'Asia/Shanghai')::date - %(days)s
order by day desc, source, kind;

-- name: interrupted
-- Alerts of jobs that stopped half-way or did not run, still open.
select alert_id, code, severity, subject, message, raised_at, last_seen, count
from meta.alert
where resolved_at is null
  and code in ('run_failed', 'consumer_stopped', 'load_failed', 'apply_failed', 'rebase_failed',
               'daily_batch_missing', 'incr_waiting', 'stale_batch', 'cdc_lag', 'table_stale')
order by last_seen desc limit 50;

-- name: cdc_state
select table_code, base_seq, base_batch_id, watermark_seq, last_applied_at, last_change_ts, applied, ignored,
       deleted, channels,
       extract(epoch from now() - last_change_ts)::double precision as behind_s
from meta.cdc_table_state order by last_applied_at desc nulls last, table_code limit 200;

-- name: cdc_hourly
select hour, table_code, changes, applied, lag_avg_s, lag_max_s
from meta.cdc_hourly(%(hours)s, 50000) order by hour, table_code;

-- name: poison
select poison_id, received_at, queue, routing_key, msg_id, table_code, reason_code, reason
from meta.cdc_poison
where (%(before)s::bigint is null or poison_id < %(before)s::bigint)
order by poison_id desc limit %(limit)s;

-- name: recon_runs
select recon_id, batch_id, table_code, as_of, rows_province, rows_local, buckets_differing, buckets_in_flight,
       keys_differing, keys_in_flight, repair_path, ran_at
from meta.recon_run
where (%(before)s::bigint is null or recon_id < %(before)s::bigint)
order by recon_id desc limit %(limit)s;

-- name: recon_buckets
select bucket, province_rows, local_rows, in_flight
from meta.recon_bucket where recon_id = %(recon_id)s order by bucket limit 500;

-- name: recon_keys
select bucket, pk_text, state, local
from meta.recon_key where recon_id = %(recon_id)s order by state, pk_text limit 500;

-- name: finding_days
-- The evaluated days the login has findings on (a scan of the masked view, ~40 ms at 100k
-- findings: through the security barrier neither max() nor an ordered index scan applies).
select distinct as_of from masked_model.mdl_findings order by as_of desc limit 30;

-- name: findings_per_station
select coalesce(gajgjgdm, '-') as gajgjgdm, model_code, count(*)::bigint as n
from masked_model.mdl_findings
where as_of = %(as_of)s
group by 1, 2 order by 1, 2;

-- name: finding_page
-- One page of a day's findings (their ids), inside the login's jurisdiction (masked_model): only
-- the id is read here, so nothing is masked for the rows the page does not show.
select finding_id
from masked_model.mdl_findings
where as_of = %(as_of)s and finding_id > %(after)s
  and (%(station)s::text is null or gajgjgdm = %(station)s::text)
  and (%(model)s::text is null or model_code = %(model)s::text)
order by finding_id
limit %(limit)s;

-- name: findings
-- Those findings, masked, with each one's latest verdict. By their ids: a join would let the
-- planner mask every finding of the day before it picks the page's fifty.
select f.finding_id, f.model_code, f.model_name, f.rule_version, f.as_of, f.subject_gmsfhm, f.subject_xm,
       f.subject_dzbm, f.xzqhdm, f.gajgjgdm, f.evidence::text as evidence, f.first_seen,
       (select max(h.as_of) from masked_model.mdl_findings h where h.subject_key = f.subject_key) as last_seen,
       r.verdict, r.reviewer, r.reviewed_at
from masked_model.mdl_findings f
left join lateral (
    select v.verdict, v.reviewer, v.reviewed_at from meta.finding_review v
    where v.finding_id = f.finding_id order by v.reviewed_at desc limit 1
) r on true
where f.as_of = %(as_of)s and f.finding_id = any(%(ids)s::text[])
order by f.finding_id;

-- name: finding_visible
-- The finding as the login sees it (masked view): none outside its jurisdiction.
select finding_id, subject_gmsfhm_hash from masked_model.mdl_findings where finding_id = %(finding_id)s limit 1

-- name: address_changes
select day, xzqhdm, action, count(*)::bigint as n
from meta.address_maintenance
where day >= (now() at time zone 'Asia/Shanghai')::date - %(days)s
group by 1, 2, 3 order by 1 desc, 2, 3;

-- name: qr_batches
select id, kind, day, count, sha256, path, generated_at, provisional, verified
from meta.qr_batch order by generated_at desc, id desc limit 100;

-- name: qr_batch_path
select path from meta.qr_batch where id = %(id)s;

-- name: source_rejects
select source, position, field, reason, record, run_id, rejected_at
from meta.source_reject
where (%(source)s::text is null or source = %(source)s::text)
  and (%(before)s::timestamptz is null or rejected_at < %(before)s::timestamptz)
order by rejected_at desc limit %(limit)s;

-- name: audit
select audit_id, at, db_user, os_user, client_addr::text as client_addr, action, object, details::text as details
from meta.audit
where (%(before)s::bigint is null or audit_id < %(before)s::bigint)
  and (%(action)s::text is null or action = %(action)s::text)
  and (%(who)s::text is null or db_user = %(who)s::text)
order by audit_id desc limit %(limit)s;
