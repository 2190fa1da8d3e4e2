-- name: last_batches
-- Each source's newest delivery (whatever became of it) and its newest loaded or applied one.
select distinct on (b.source) b.source, b.batch_id, b.kind, b.status, b.received_at, b.finished_at,
       (select max(l.finished_at) from meta.batch l
        where l.source = b.source and l.status in ('loaded', 'applied')) as last_loaded_at
from meta.batch b
order by b.source, b.received_at desc, b.delivery_id desc;

-- name: open_alerts
select severity, count(*) from meta.alert where resolved_at is null group by 1;
