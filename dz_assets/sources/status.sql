-- name: status
select source, last_run_at, last_success_at, rows_read, rows_loaded, rows_rejected, last_error, duration_s
from meta.source_status

-- name: rejects
select position, field, reason, record, run_id, rejected_at
from meta.source_reject
where source = %(source)s
  and run_id = coalesce(%(run_id)s, (select last_run_id from meta.source_status where source = %(source)s))
order by reject_id
