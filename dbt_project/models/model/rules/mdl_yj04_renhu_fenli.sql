{{ config(meta={'rule': {'code': 'YJ04', 'name': '人户分离模型',
                         'vars': ['yj04_days']}}) }}
-- YJ04: hukou status 正常 and either the active 实有人口 address lies in another county-level
-- division than the hukou address (跨区县人户分离), or there is no active 实有人口 row while a
-- residence track in the yj04_days before D places the person at another address than the
-- hukou address. A division is the address tables' XZQHDM, else the row's own division code.
with hukou as (
    select distinct on (gmsfhm) * from ({{ mdl_hukou() }}) h
    where ryztdm = '1'
    order by gmsfhm, djsj desc nulls last, rybh
),

addresses as (
    {{ mdl_addresses() }}
),

residents as (
    {{ mdl_active_residents() }}
),

cross_county as (
    select h.gmsfhm, h.xm, h.rybh, h.hjdz_dzbm, r.syrkbh, r.jzdz_dzbm as dzbm,
           left(coalesce(ha.xzqhdm, h.hjdz_xzqhdm), 6) as hukou_county,
           left(coalesce(ra.xzqhdm, r.jzdz_xzqhdm), 6) as live_county,
           'YBSS_SYRKXX' as tbl, 'SYRKBH' as key_name, r.syrkbh as key
    from hukou h
    join residents r on r.gmsfhm = h.gmsfhm
    left join addresses ha on ha.dzbm = h.hjdz_dzbm
    left join addresses ra on ra.dzbm = r.jzdz_dzbm
    where left(coalesce(ha.xzqhdm, h.hjdz_xzqhdm), 6) <> left(coalesce(ra.xzqhdm, r.jzdz_xzqhdm), 6)
),

tracked_elsewhere as (
    select h.gmsfhm, h.xm, h.rybh, h.hjdz_dzbm, null::text as syrkbh, t.dzbm,
           null::text as hukou_county, null::text as live_county,
           'ZDR_TDDXRYJZGJXX' as tbl, 'GJBH' as key_name, t.key
    from hukou h
    join ({{ mdl_track_activity(mdl_window_start(var('yj04_days'))) }}) t
        on t.gmsfhm = h.gmsfhm and t.tbl = 'ZDR_TDDXRYJZGJXX'
    where t.dzbm is not null and t.dzbm is distinct from h.hjdz_dzbm
      and not exists (select 1 from residents r where r.gmsfhm = h.gmsfhm)
),

found as (
    select * from cross_county
    union all
    select * from tracked_elsewhere
),

final as (
    select
        {{ mdl_finding_columns('YJ04') }},
        gmsfhm as subject_gmsfhm,
        min(xm) as subject_xm,
        min(dzbm) as subject_dzbm,
        jsonb_build_array({{ mdl_evidence('HZ_HJRKJBXX', [('RYBH', 'min(rybh)')],
                [('GMSFHM', 'gmsfhm'), ('HJDZ_DZBM', 'min(hjdz_dzbm)'), ('RYZTDM', "'1'"),
                 ('COUNTY', 'min(hukou_county)')]) }})
        || jsonb_agg(jsonb_build_object('table', tbl, 'key', jsonb_build_object(key_name, key),
               'fields', jsonb_build_object('GMSFHM', gmsfhm, 'DZBM', dzbm, 'COUNTY', live_county))
               order by tbl, key) as evidence
    from found
    group by gmsfhm
)

select * from final
