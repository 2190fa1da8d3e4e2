-- 地要素: one row per standard address (core_address) with what is found there: residents,
-- hukou registrations, houses, units, disputes and cases. _changed_at = newest load among the
-- address and the rows counted (so an anomaly rule re-checks the place when any of them moves).
with addresses as (
    select * from {{ ref('core_address') }}
),

residents as (
    select jz_dzbm as dzbm, count(*) as resident_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_person') }} where is_actual and jz_dzbm is not null group by 1
),

hukou as (
    select hj_dzbm as dzbm, count(*) as hukou_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_person') }} where is_hukou and ryztdm = '1' and hj_dzbm is not null group by 1
),

houses as (
    select dzbm, count(*) as house_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_house') }} where is_active and dzbm is not null group by 1
),

units as (
    select zc_dzbm as dzbm, count(*) as unit_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_unit') }} where is_active and zc_dzbm is not null group by 1
),

disputes as (
    select dzbm, count(*) as dispute_count, max(_loaded_at) as _loaded_at
    from {{ ref('stg_ods__ezc_mdjffxyhjbxx') }} where dzbm is not null group by 1
),

cases as (
    select fadz_dzbm as dzbm, count(*) as case_count, max(_loaded_at) as _loaded_at
    from {{ ref('stg_ods__ybss_ajxx') }} where fadz_dzbm is not null group by 1
),

final as (
    select
        a.dzbm,
        a.dzmc,
        a.dzjbdm,
        a.ml_dzbm,
        a.jlx_dzbm,
        a.xzqhdm,
        a.xzjddm,
        a.gajgjgdm,
        a.is_active,
        a.parent_missing,
        a.zbx,
        a.zby,
        coalesce(r.resident_count, 0)   as resident_count,
        coalesce(h.hukou_count, 0)      as hukou_count,
        coalesce(f.house_count, 0)      as house_count,
        coalesce(u.unit_count, 0)       as unit_count,
        coalesce(d.dispute_count, 0)    as dispute_count,
        coalesce(c.case_count, 0)       as case_count,
        a._batch_id, a._file, a._line, a._msg_id, a._seq, a._loaded_at,
        greatest(a._loaded_at, r._loaded_at, h._loaded_at, f._loaded_at, u._loaded_at,
                 d._loaded_at, c._loaded_at) as _changed_at
    from addresses a
    left join residents r on r.dzbm = a.dzbm
    left join hukou h on h.dzbm = a.dzbm
    left join houses f on f.dzbm = a.dzbm
    left join units u on u.dzbm = a.dzbm
    left join disputes d on d.dzbm = a.dzbm
    left join cases c on c.dzbm = a.dzbm
)

select * from final
