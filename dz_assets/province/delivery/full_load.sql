-- name: dedupe
-- A FULL keeps the last occurrence of a key (FILE order, then line); the others are counted
-- per file as duplicates. Runs only when the build's primary key found some (ods.swap.try_primary_key).
with ranked as (
    select ctid as row_id,
           row_number() over (partition by {key}
                              order by array_position(%(files)s::text[], _file) desc, _line desc) as rn
    from {rel}
), gone as (
    delete from {rel} t using ranked r
    where t.ctid = r.row_id and r.rn > 1
    returning t._file
)
select _file, count(*) from gone group by _file;
