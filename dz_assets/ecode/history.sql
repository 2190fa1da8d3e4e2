-- name: sync
-- Bring the address history up to date with what the ODS tables hold (migration 0012).
select meta.address_history_sync()

-- name: day_selection
-- The addresses of day D's batch (spec/ecode-redirect.md): the served state of each address (its
-- 门楼 row unless deleted, else its 层户 row, as serve.address_registry) at the end of D-1 (e1)
-- compared with the one at the end of D-2 (e2). Only an address with a state recorded during
-- D-1 can differ, so those are the candidates (index on recorded_at), each looked up by key.
with cand as (
    select distinct dzbm from meta.address_state
    where recorded_at >= %(e2)s and recorded_at < %(e1)s
), at_end as (
    select c.dzbm, e.which, s.dzmc, s.xzqhdm, s.gajgjgdm, s.dzztdm
    from cand c
    cross join (values (1, %(e1)s::timestamptz), (2, %(e2)s::timestamptz)) e(which, t)
    cross join lateral (
        select l.dzmc, l.xzqhdm, l.gajgjgdm, l.dzztdm
        from (values (1::smallint), (2::smallint)) lv(level)
        cross join lateral (
            select a.dzmc, a.xzqhdm, a.gajgjgdm, a.dzztdm, a.deleted
            from meta.address_state a
            where a.dzbm = c.dzbm and a.level = lv.level and a.recorded_at < e.t
            order by a.recorded_at desc, a.state_id desc
            limit 1
        ) l
        where not l.deleted
        order by lv.level
        limit 1
    ) s
)
select d1.dzbm, d1.dzmc, left(d1.xzqhdm, 6), d1.gajgjgdm,
       case when d2.dzbm is null or d2.dzztdm is distinct from '1' then 'new' else 'changed' end,
       ga.name
from at_end d1
left join at_end d2 on d2.dzbm = d1.dzbm and d2.which = 2
left join meta.code_table ga on ga.dict = 'GAJG' and ga.code = d1.gajgjgdm
where d1.which = 1 and d1.dzztdm = '1' and d1.xzqhdm like '5117%%'
  and (d2.dzbm is null or d2.dzztdm is distinct from '1'
       or (d2.dzmc, d2.xzqhdm, d2.gajgjgdm) is distinct from (d1.dzmc, d1.xzqhdm, d1.gajgjgdm))

-- name: active_now
-- Every active Dazhou address now (the first issue), optionally under a division prefix: the
-- served state of each address from its last recorded states.
with last as (
    select distinct on (dzbm, level) dzbm, level, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted
    from meta.address_state
    order by dzbm, level, recorded_at desc, state_id desc
), served as (
    select distinct on (dzbm) * from last where not deleted order by dzbm, level
)
select s.dzbm, s.dzmc, left(s.xzqhdm, 6), s.gajgjgdm, 'first_issue', ga.name
from served s
left join meta.code_table ga on ga.dict = 'GAJG' and ga.code = s.gajgjgdm
where s.dzztdm = '1' and s.xzqhdm like '5117%%' and s.xzqhdm like %(division)s || '%%'

-- name: by_code
-- The addresses a reprint names, as served now (active or not: a damaged plate may be of any).
with last as (
    select distinct on (dzbm, level) dzbm, level, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted
    from meta.address_state
    where dzbm = any(%(codes)s::text[])
    order by dzbm, level, recorded_at desc, state_id desc
), served as (
    select distinct on (dzbm) * from last where not deleted order by dzbm, level
)
select s.dzbm, s.dzmc, left(s.xzqhdm, 6), s.gajgjgdm, 'reprint', ga.name, s.dzztdm
from served s
left join meta.code_table ga on ga.dict = 'GAJG' and ga.code = s.gajgjgdm
