-- 实有人口 indicators: one row per county and police station of residence (persons living
-- in Dazhou per the actual population register), with data-quality counts.
with persons as (
    select * from {{ ref('core_person') }} where is_actual
),

counted as (
    select
        jz_xzqhdm                                               as xzqhdm,
        jz_gajgjgdm                                             as gajgjgdm,
        count(*)                                                as actual_total,
        count(*) filter (where rylbdm = '1')                    as hukou_category_count,
        count(*) filter (where rylbdm = '2')                    as migrant_category_count,
        count(*) filter (where rylbdm = '3')                    as foreign_category_count,
        count(*) filter (where is_hukou and hj_xzqhdm <> jz_xzqhdm) as cross_division_count,
        count(*) filter (where not id_valid)                    as invalid_id_count,
        count(*) filter (where jz_dzbm is null)                 as no_address_count,
        count(*) filter (where fwbh is null)                    as no_house_count,
        {{ watermark_columns() }}
    from persons
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
