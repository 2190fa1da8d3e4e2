-- 矛盾纠纷 trend: one row per Beijing day, county and dispute type.
with disputes as (
    select * from {{ ref('topic_mdjf__dispute') }} where fssj is not null
),

final as (
    select
        (fssj at time zone 'Asia/Shanghai')::date   as stat_date,
        xzqhdm,
        jflxdm,
        count(*)                                    as dispute_count,
        count(*) filter (where police_involved)     as police_involved_count,
        {{ watermark_columns() }}
    from disputes
    group by 1, 2, 3
)

select * from final
