{{ config(meta={'rule': {'code': 'XZ03', 'name': '从业或学生人员无居住轨迹满足新增模型',
                         'vars': ['xz03_days']}}) }}
-- XZ03: recorded as 从业人员 or 学生 in the xz03_days before D (smart-community registration
-- RYLXDM 4/5 by ZCSJ, or home-visit person RYSFDM 4/5 by the visit's ZFSJ), with no active
-- 实有人口 row and no residence-track row at any date (up to D).
with records as (
    select gmsfhm, xm, 'ZHXQ_ZHXQRYZCXX' as tbl, 'ZCBH' as key_name, zcbh as key, rylxdm as sfdm,
           {{ mdl_day('zcsj') }} as day, zzdz_dzbm as dzbm
    from {{ ref('stg_ods__zhxq_zhxqryzcxx') }}
    where rylxdm in ('4', '5')
      and {{ mdl_day('zcsj') }} between {{ mdl_window_start(var('xz03_days')) }} and {{ mdl_as_of() }}
    union all
    select r.gmsfhm, r.xm, 'EZC_RHZFRYXX', 'ZFRYBH', r.zfrybh, r.rysfdm, {{ mdl_day('v.zfsj') }}, v.dzbm
    from {{ ref('stg_ods__ezc_rhzfryxx') }} r
    join {{ ref('stg_ods__ezc_rhzfjbxx') }} v on v.zfbh = r.zfbh
    where r.rysfdm in ('4', '5')
      and {{ mdl_day('v.zfsj') }} between {{ mdl_window_start(var('xz03_days')) }} and {{ mdl_as_of() }}
),

untracked as (
    select c.*
    from records c
    where c.gmsfhm is not null
      and not exists (select 1 from ({{ mdl_active_residents() }}) s where s.gmsfhm = c.gmsfhm)
      and not exists (
          select 1 from {{ source('ods', 'zdr_tddxryjzgjxx') }} g
          where not g._deleted and {{ normalize_idcard('g.gmsfhm') }} = c.gmsfhm and {{ mdl_not_after('g.ksrq') }}
      )
),

final as (
    select
        {{ mdl_finding_columns('XZ03') }},
        gmsfhm as subject_gmsfhm,
        (array_agg(xm order by day desc, key))[1] as subject_xm,
        (array_agg(dzbm order by day desc, key))[1] as subject_dzbm,
        jsonb_agg(jsonb_build_object('table', tbl, 'key', jsonb_build_object(key_name, key),
                  'fields', jsonb_build_object('GMSFHM', gmsfhm, 'SFDM', sfdm, 'DAY', day, 'DZBM', dzbm))
                  order by day, key) as evidence
    from untracked
    group by gmsfhm
)

select * from final
