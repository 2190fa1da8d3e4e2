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

-- name: protect
-- The analysts' masked view of the swapped-in table and the group roles' grants, from the
-- column classification (migration 0010_access): a table the swap saw without them (a warehouse
-- initialised before them) gets them here too.
select meta.dz_protect('ods', %(relation)s)

-- name: after_swap
-- What the warehouse keeps beside the swapped-in table (migration 0012): the standard-address
-- tables record the FULL's difference in the address history and get their triggers again.
select meta.dz_after_swap('ods', %(relation)s)
