{{ config(materialized='view') }}
-- Precision of each model and rule version from the stations' reviews: of the findings reviewed,
-- the share confirmed (属实, or 已整改 after being confirmed). A subject's latest verdict counts.
with reviews as (
    select distinct on (model_code, rule_version, subject_gmsfhm, subject_dzbm)
           model_code, rule_version, subject_gmsfhm, subject_dzbm, verdict
    from {{ source('meta', 'finding_review') }}
    order by model_code, rule_version, subject_gmsfhm, subject_dzbm, reviewed_at desc, review_id desc
),

final as (
    select model_code,
           rule_version,
           count(*) as reviewed,
           count(*) filter (where verdict in ('confirmed', 'fixed')) as confirmed,
           count(*) filter (where verdict = 'false_positive') as false_positive,
           round(count(*) filter (where verdict in ('confirmed', 'fixed'))::numeric / nullif(count(*), 0), 4) as precision
    from reviews
    group by model_code, rule_version
)

select * from final
