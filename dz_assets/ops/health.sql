-- name: table_freshness
-- Per ODS table: when it last received data, by a province load or apply, or by the change stream.
with loads as (
    select f.table_code, max(b.finished_at) as at
    from meta.batch b join meta.batch_file f using (delivery_id)
    where b.status in ('loaded', 'applied')
    group by f.table_code
), streams as (
    select table_code, greatest(last_applied_at, rebased_at) as at from meta.cdc_table_state
)
select coalesce(l.table_code, s.table_code) as table_code,
       greatest(l.at, s.at) as last_data_at
from loads l full join streams s using (table_code)
where greatest(l.at, s.at) is not null
order by 1;

-- name: resolve_delivered_batches
-- A batch's load faults (quarantine, stale, failed load or apply, waiting) clear once a delivery
-- of that batch id is loaded or applied: a corrected package re-sent, a retry that went through.
update meta.alert a set resolved_at = now()
where a.resolved_at is null and a.source = 'province'
  and exists (select 1 from meta.batch b
              where b.batch_id = a.subject and b.status in ('loaded', 'applied')
                and b.finished_at >= a.last_seen)
returning a.alert_id;
