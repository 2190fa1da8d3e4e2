-- 实有人口 trend: one row per registration day, county of residence and person category.
with persons as (
    select * from {{ ref('core_person') }} where syrkbh is not null and sy_djrq is not null
),

final as (
    select
        sy_djrq           as stat_date,
        jz_xzqhdm         as xzqhdm,
        rylbdm,
        count(*)          as registered_count,
        count(*) filter (where not is_actual) as cancelled_since_count,
        {{ watermark_columns() }}
    from persons
    group by 1, 2, 3
)

select * from final
