-- 流动人口 indicators: one row per county and police station of residence.
with migrants as (
    select * from {{ ref('topic_ldrk__migrant') }}
),

counted as (
    select
        jz_xzqhdm                                               as xzqhdm,
        jz_gajgjgdm                                             as gajgjgdm,
        count(*)                                                as migrant_total,
        count(*) filter (where origin = 'in_province')          as in_province_count,
        count(*) filter (where origin = 'out_of_province')      as out_of_province_count,
        count(*) filter (where origin is null)                  as unknown_origin_count,
        count(*) filter (where jz_dzbm is null)                 as no_address_count,
        count(*) filter (where fwbh is null)                    as no_house_count,
        count(*) filter (where not id_valid)                    as invalid_id_count,
        {{ watermark_columns() }}
    from migrants
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
