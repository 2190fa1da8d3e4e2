-- 流动人口 trend: one row per registration day and county of residence.
with migrants as (
    select * from {{ ref('topic_ldrk__migrant') }} where sy_djrq is not null
),

final as (
    select
        sy_djrq                                             as stat_date,
        jz_xzqhdm                                           as xzqhdm,
        count(*)                                            as registered_count,
        count(*) filter (where origin = 'out_of_province')  as out_of_province_count,
        {{ watermark_columns() }}
    from migrants
    group by 1, 2
)

select * from final
