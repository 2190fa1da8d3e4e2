-- name: record_success
-- Keeps the newest success: a late sensor tick about an older run does not move it back.
insert into meta.job_run as j (job, run_id, succeeded_at) values (%(job)s, %(run_id)s, %(at)s)
on conflict (job) do update set run_id = excluded.run_id, succeeded_at = excluded.succeeded_at
where excluded.succeeded_at > j.succeeded_at;

-- name: last_successes
select job, run_id, succeeded_at from meta.job_run order by job;
