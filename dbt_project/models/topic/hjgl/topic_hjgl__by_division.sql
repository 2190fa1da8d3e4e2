-- 户籍管理 indicators: one row per county and police station of the hukou address.
with persons as (
    select * from {{ ref('topic_hjgl__person') }}
),

counted as (
    select
        hj_xzqhdm                                                  as xzqhdm,
        hj_gajgjgdm                                                as gajgjgdm,
        count(*)                                                   as hukou_total,
        count(*) filter (where ryztdm = '1')                       as hukou_normal,
        count(distinct hh) filter (where ryztdm = '1')             as household_count,
        count(*) filter (where ryztdm = '1' and xbdm = '1')        as male_count,
        count(*) filter (where ryztdm = '1' and xbdm = '2')        as female_count,
        count(*) filter (where ryztdm = '2')                       as dead_count,
        count(*) filter (where ryztdm = '3')                       as moved_out_count,
        count(*) filter (where ryztdm = '1' and not is_actual)     as not_in_actual_count,
        count(*) filter (where not id_valid)                       as invalid_id_count,
        count(*) filter (where hj_dzbm is null)                    as unlinked_address_count,
        count(*) filter (where hj_link = 'name')                   as linked_by_name_count,
        count(*) filter (where hukou_rows > 1)                     as duplicate_id_count,
        {{ watermark_columns() }}
    from persons
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
