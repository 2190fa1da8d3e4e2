-- 实有单位 indicators: one row per county and unit type (DWLX).
with units as (
    select * from {{ ref('core_unit') }} where is_active
),

final as (
    select
        xzqhdm,
        dwlxdm,
        max(dwlxmc)                   as dwlxmc,
        count(*)                      as unit_total,
        coalesce(sum(cyrys), 0)       as employee_total,
        {{ watermark_columns() }}
    from units
    group by 1, 2
)

select * from final
