-- name: lock
select pg_advisory_xact_lock(hashtextextended('dz_source:' || %(source)s, 0))

-- name: status_of
select cursor_value from meta.source_status where source = %(source)s

-- name: files_read
select path, sha256 from meta.source_file where source = %(source)s

-- name: file_read
insert into meta.source_file (source, path, sha256, bytes, rows, run_id)
values (%(source)s, %(path)s, %(sha256)s, %(bytes)s, %(rows)s, %(run_id)s)
on conflict (source, path, sha256) do update set rows = excluded.rows, run_id = excluded.run_id, read_at = now()

-- name: success
insert into meta.source_status as s (source, name, category, owner, kind, enabled, schedule, config_file,
    last_run_at, last_success_at, last_run_id, rows_read, rows_loaded, rows_rejected, rows_changed, rows_deleted,
    last_error, duration_s, cursor_value, fuse_entity, fuse_key, fuse_priority)
values (%(source)s, %(name)s, %(category)s, %(owner)s, %(kind)s, %(enabled)s, %(schedule)s, %(config_file)s,
    %(started)s, %(started)s, %(run_id)s, %(read)s, %(loaded)s, %(rejected)s, %(changed)s, %(deleted)s,
    null, %(duration_s)s, %(cursor)s, %(fuse_entity)s, %(fuse_key)s, %(fuse_priority)s)
on conflict (source) do update set name = excluded.name, category = excluded.category, owner = excluded.owner,
    kind = excluded.kind, enabled = excluded.enabled, schedule = excluded.schedule,
    config_file = excluded.config_file, last_run_at = excluded.last_run_at,
    last_success_at = excluded.last_success_at, last_run_id = excluded.last_run_id,
    rows_read = excluded.rows_read, rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected,
    rows_changed = excluded.rows_changed, rows_deleted = excluded.rows_deleted, last_error = null,
    duration_s = excluded.duration_s, cursor_value = coalesce(excluded.cursor_value, s.cursor_value),
    fuse_entity = excluded.fuse_entity, fuse_key = excluded.fuse_key, fuse_priority = excluded.fuse_priority

-- name: failure
insert into meta.source_status as s (source, name, category, owner, kind, enabled, schedule, config_file,
    last_run_at, last_run_id, last_error, duration_s)
values (%(source)s, %(name)s, %(category)s, %(owner)s, %(kind)s, %(enabled)s, %(schedule)s, %(config_file)s,
    %(started)s, %(run_id)s, %(error)s, %(duration_s)s)
on conflict (source) do update set last_run_at = excluded.last_run_at, last_run_id = excluded.last_run_id,
    last_error = excluded.last_error, duration_s = excluded.duration_s

-- name: reset
update meta.source_status set cursor_value = null where source = %(source)s

-- name: reset_files
delete from meta.source_file where source = %(source)s

-- name: stage_repeats
select exists (select 1 from pg_temp.dz_stage where _ok group by _key having count(*) > 1)

-- name: stage_keep_last
delete from pg_temp.dz_stage s
using (select _key, max(_seq) as last from pg_temp.dz_stage where _ok group by _key having count(*) > 1) r
where s._ok and s._key = r._key and s._seq < r.last

-- name: merge_update
update {target} t set {sets}, _position = s._position, _run_id = %(run_id)s, _loaded_at = now(),
    _deleted = false, _deleted_at = null
from pg_temp.dz_stage s
where s._ok and t._key = s._key and ({old}, t._deleted) is distinct from ({new}, false)

-- name: merge_insert
insert into {target} ({cols}, _key, _position, _source, _run_id, _loaded_at, _deleted, _deleted_at)
select {cols}, s._key, s._position, %(source)s, %(run_id)s, now(), false, null
from pg_temp.dz_stage s
where s._ok and not exists (select 1 from {target} t where t._key = s._key)

-- name: mark_deleted
update {target} t set _deleted = true, _deleted_at = now(), _run_id = %(run_id)s
where not t._deleted and not exists (select 1 from pg_temp.dz_stage s where s._key = t._key)

-- name: is_empty
select not exists (select 1 from {target})

-- name: primary_key
select conname::text from pg_constraint where conrelid = %(rel)s::regclass and contype = 'p'

-- name: drop_repeated_keys
delete from {target} t using (
    select ctid, row_number() over (partition by _key order by ctid desc) as nth from {target}
) r
where t.ctid = r.ctid and r.nth > 1
