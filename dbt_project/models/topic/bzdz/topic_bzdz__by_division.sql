-- 标准地址 indicators: one row per county and police station: addresses by level and state,
-- and the quality counts (no own police station, parent missing, 层户 with nobody living there).
with addresses as (
    select * from {{ ref('core_address') }}
),

-- residents per address as elem_place keeps them (one row per address, kept by increments),
-- instead of regrouping core_person's millions of rows on every run
residents as (
    select dzbm, resident_count as n from {{ ref('elem_place') }} where resident_count > 0
),

counted as (
    select
        a.xzqhdm,
        a.gajgjgdm,
        count(*) filter (where a.dzjbdm = '1')                          as jlx_count,
        count(*) filter (where a.dzjbdm = '2')                          as ml_count,
        count(*) filter (where a.dzjbdm = '3')                          as ch_count,
        count(*) filter (where a.is_active)                             as active_count,
        count(*) filter (where not a.is_active)                         as inactive_count,
        count(*) filter (where a.gajg_inherited)                        as inherited_station_count,
        count(*) filter (where a.gajgjgdm is null)                      as no_station_count,
        count(*) filter (where a.parent_missing)                        as parent_missing_count,
        count(*) filter (where a.dzjbdm = '3' and a.is_active and r.n is null) as empty_ch_count,
        {{ watermark_columns('a') }}
    from addresses a
    left join residents r on r.dzbm = a.dzbm
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
