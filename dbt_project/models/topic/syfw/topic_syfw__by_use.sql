-- 实有房屋 indicators: one row per county, house use (FWYT) and house category (FWLB).
with houses as (
    select * from {{ ref('core_house') }} where is_active
),

final as (
    select
        xzqhdm,
        fwytdm, max(fwytmc) as fwytmc,
        fwlbdm, max(fwlbmc) as fwlbmc,
        count(*)                               as house_total,
        count(*) filter (where is_rented)      as rented_count,
        sum(jzmj)                              as floor_area,
        {{ watermark_columns() }}
    from houses
    group by xzqhdm, fwytdm, fwlbdm
)

select * from final
