-- 数据比对: standard addresses for which more than one owner is registered among the active
-- houses (一房多主); the owners and house numbers listed.
with houses as (
    select * from {{ ref('core_house') }}
    where is_active and dzbm is not null and fzgmsfhm is not null and owner_count_at_address > 1
),

final as (
    select
        dzbm,
        max(owner_count_at_address)                          as owner_count,
        array_agg(distinct fzgmsfhm order by fzgmsfhm)       as owner_ids,
        array_agg(distinct fwbh order by fwbh)               as fwbh_list,
        max(xzqhdm)                                          as xzqhdm,
        max(gajgjgdm)                                        as gajgjgdm,
        {{ watermark_columns() }}
    from houses
    group by dzbm
)

select * from final
