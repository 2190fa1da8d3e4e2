-- 矛盾纠纷 indicators: one row per county and police station where disputes happened.
with disputes as (
    select * from {{ ref('topic_mdjf__dispute') }}
),

counted as (
    select
        xzqhdm,
        gajgjgdm,
        count(*)                                                            as dispute_total,
        count(*) filter (where police_involved)                             as police_involved_count,
        count(*) filter (where fssj >= now() - interval '30 days')          as last_30_days_count,
        count(*) filter (where jflxdm = '01')                               as family_count,
        count(*) filter (where jflxdm = '02')                               as neighbour_count,
        count(*) filter (where not address_linked)                          as unlinked_address_count,
        count(*) filter (where party_count = 0)                             as no_party_count,
        {{ watermark_columns() }}
    from disputes
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
