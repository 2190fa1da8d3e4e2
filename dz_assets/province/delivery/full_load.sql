-- name: has_duplicate_key
-- Whether a key is delivered twice, asked by a query that cannot fail: a primary key that fails
-- on it would write the duplicated key (an ID number in many tables) to the server log's DETAIL.
select exists (select from {rel} group by {key} having count(*) > 1);

-- name: dedupe
-- A FULL keeps the last occurrence of a key (FILE order, then line); the others are counted
-- per file as duplicates. Runs only when has_duplicate_key found some.
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
