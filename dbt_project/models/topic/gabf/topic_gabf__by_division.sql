-- GABF人群 indicators: one row per county and police station of residence.
with subjects as (
    select * from {{ ref('topic_gabf__person') }}
),

counted as (
    select
        jz_xzqhdm                                           as xzqhdm,
        jz_gajgjgdm                                         as gajgjgdm,
        count(*)                                            as subject_total,
        count(*) filter (where cardinality(bq_codes) > 0)   as labelled_count,
        count(*) filter (where not in_population)           as not_in_population_count,
        count(*) filter (where residence_differs)           as residence_differs_count,
        count(*) filter (where jz_dzbm is null)             as no_address_count,
        {{ watermark_columns() }}
    from subjects
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
