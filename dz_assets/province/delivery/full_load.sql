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

-- name: dependent_views
-- Views (and materialized views) reading the table, at any depth, shallowest first: a swap must
-- drop and re-create them, or they would keep pointing at the old relation.
with recursive deps as (
    select v.oid, 1 as depth
    from pg_depend d
    join pg_rewrite r on r.oid = d.objid
    join pg_class v on v.oid = r.ev_class
    where d.classid = 'pg_rewrite'::regclass and d.refobjid = %(rel)s::regclass
      and v.oid <> %(rel)s::regclass
    union all
    select v.oid, deps.depth + 1
    from deps
    join pg_depend d on d.refobjid = deps.oid and d.classid = 'pg_rewrite'::regclass
    join pg_rewrite r on r.oid = d.objid
    join pg_class v on v.oid = r.ev_class
    where v.oid <> deps.oid and deps.depth < 20
)
select format('%%I.%%I', n.nspname, c.relname) as name, c.relkind, pg_get_viewdef(c.oid) as body,
       obj_description(c.oid, 'pg_class') as comment, c.reloptions as options, max(deps.depth) as depth
from deps
join pg_class c on c.oid = deps.oid
join pg_namespace n on n.oid = c.relnamespace
group by 1, 2, 3, 4, 5
order by depth, name;

-- name: grants
-- The privileges granted on a relation (not its owner's own) as GRANT statements: a swap
-- re-creates the table and its dependent views, and their readers must keep their access.
select format('grant %%s on %%s to %%s%%s', a.privilege_type, %(rel)s::regclass,
              case when a.grantee = 0 then 'public' else quote_ident(r.rolname) end,
              case when a.is_grantable then ' with grant option' else '' end)
from pg_class c
cross join lateral aclexplode(c.relacl) a
left join pg_roles r on r.oid = a.grantee
where c.oid = %(rel)s::regclass and a.grantee <> c.relowner
order by 1;
