-- name: latest_runs
select distinct on (table_code) table_code, batch_id, buckets_differing, keys_differing,
       keys_in_flight, repair_path
from meta.recon_run
order by table_code, recon_id desc
