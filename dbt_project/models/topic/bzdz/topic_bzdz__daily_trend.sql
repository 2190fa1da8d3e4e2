-- 标准地址 trend: one row per Beijing day of registration, county and address level.
with addresses as (
    select * from {{ ref('core_address') }} where djsj is not null
),

final as (
    select
        (djsj at time zone 'Asia/Shanghai')::date   as stat_date,
        xzqhdm,
        dzjbdm,
        count(*)                                    as registered_count,
        {{ watermark_columns() }}
    from addresses
    group by 1, 2, 3
)

select * from final
