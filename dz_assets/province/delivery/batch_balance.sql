-- name: files
-- Per data file of a delivery: declared records against what became of them.
select table_code, file_name, records, rows_loaded, rows_rejected, rows_duplicate, rows_flagged, bytes,
       duration_s
from meta.batch_file where delivery_id = %(delivery_id)s
order by table_code, file_name;

-- name: flags
select table_code, field, flag, rows, sample_file, sample_line from meta.batch_flag
where delivery_id = %(delivery_id)s order by table_code, field, flag;

-- name: last_rebase
-- The latest loaded FULL delivery that re-based the table, with its figures for that table.
select b.batch_id, b.delivery_id, sum(f.records), sum(f.rows_loaded), sum(f.rows_rejected),
       sum(f.rows_duplicate)
from meta.batch b join meta.batch_file f using (delivery_id)
where f.table_code = %(table_code)s and b.kind = 'FULL' and b.status = 'loaded'
group by b.batch_id, b.delivery_id, b.finished_at
order by b.finished_at desc nulls last, b.delivery_id desc
limit 1;
