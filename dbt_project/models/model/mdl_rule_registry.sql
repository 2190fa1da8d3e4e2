{{ config(materialized='view') }}
-- One row per rule model and rule version: its threshold values and the first evaluated day it
-- took effect on (and the last it was in use on).
with runs as (
    select * from {{ ref('mdl_rule_runs') }}
),

final as (
    select model_code,
           min(model_name) as model_name,
           rule_version,
           (array_agg(vars order by evaluated_at desc))[1] as vars,
           min(as_of) as effective_from,
           max(as_of) as last_evaluated,
           min(evaluated_at) as first_recorded_at
    from runs
    group by model_code, rule_version
)

select * from final
