-- 户籍管理 trend: one row per Beijing day of registration and county: new hukou registrations.
with persons as (
    select * from {{ ref('topic_hjgl__person') }} where hj_djsj is not null
),

final as (
    select
        (hj_djsj at time zone 'Asia/Shanghai')::date as stat_date,
        hj_xzqhdm                                    as xzqhdm,
        count(*)                                     as registered_count,
        count(*) filter (where ryztdm = '1')         as still_normal_count,
        {{ watermark_columns() }}
    from persons
    group by 1, 2
)

select * from final
