{{ config(meta={'rule': {'code': 'XZ01', 'name': '智慧小区满足新增规则模型',
                         'vars': ['xz01_min_days', 'xz01_days']}}) }}
-- XZ01: access records at one smart community on >= xz01_min_days distinct days of the
-- xz01_days before D, or a registration there as 业主/租户/家属 (any day up to D), and no active
-- 实有人口 row anywhere. Subject address: the community's.
with communities as (
    select distinct on (xqbm) {{ normalize_dzbm('xqbm') }} as xqbm, {{ normalize_dzbm('dzbm') }} as dzbm
    from {{ source('ods', 'zhxq_zhxqjcxx') }}
    where not _deleted
    order by xqbm
),

access_days as (
    select gmsfhm, xqbm, count(distinct day) as days
    from ({{ mdl_access(mdl_window_start(var('xz01_days'))) }}) a
    group by gmsfhm, xqbm
),

registrations as (
    select zcbh, gmsfhm, xm, xqbm, rylxdm, zcsj
    from {{ ref('stg_ods__zhxq_zhxqryzcxx') }}
    where gmsfhm is not null and rylxdm in ('1', '2', '3') and {{ mdl_not_after('zcsj', true) }}
),

candidates as (
    select gmsfhm, xqbm, null::text as zcbh, null::text as xm, null::text as rylxdm,
           null::timestamptz as zcsj, days
    from access_days
    where days >= {{ var('xz01_min_days') }}
    union all
    select r.gmsfhm, r.xqbm, r.zcbh, r.xm, r.rylxdm, r.zcsj, a.days
    from registrations r
    left join access_days a on a.gmsfhm = r.gmsfhm and a.xqbm = r.xqbm
),

unregistered as (
    select c.*
    from candidates c
    where not exists (select 1 from ({{ mdl_active_residents() }}) s where s.gmsfhm = c.gmsfhm)
),

final as (
    select
        {{ mdl_finding_columns('XZ01') }},
        u.gmsfhm as subject_gmsfhm,
        max(u.xm) as subject_xm,
        min(q.dzbm) as subject_dzbm,
        jsonb_agg(case when u.zcbh is not null then
            {{ mdl_evidence('ZHXQ_ZHXQRYZCXX', [('ZCBH', 'u.zcbh')],
                [('GMSFHM', 'u.gmsfhm'), ('XQBM', 'u.xqbm'), ('RYLXDM', 'u.rylxdm'), ('ZCSJ', mdl_ts('u.zcsj')),
                 ('ACCESS_DAYS', 'coalesce(u.days, 0)')]) }}
        else
            {{ mdl_evidence('ZHXQ_ZHXQRYJCJLXX', [('GMSFHM', 'u.gmsfhm'), ('XQBM', 'u.xqbm')],
                [('ACCESS_DAYS', 'u.days'), ('WINDOW_DAYS', var('xz01_days'))]) }}
        end order by u.xqbm, u.zcbh nulls first) as evidence
    from unregistered u
    left join communities q on q.xqbm = u.xqbm
    group by u.gmsfhm
)

select * from final
