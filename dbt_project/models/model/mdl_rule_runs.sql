{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=["{{ mdl_delete_day() }}"],
) }}
-- One row per rule model and evaluated day: the version and threshold values it ran with and how
-- many findings it gave (zero included), for the registry, the run counts and the jump check.
with counts as (
    select model_code, count(*) as findings
    from {{ ref('mdl_findings') }}
    where as_of = {{ mdl_as_of() }}
    group by model_code
),

rules as (
    {%- for node in mdl_rule_nodes() %}
    select '{{ node.config.meta.rule.code }}'::text as model_code,
           '{{ node.config.meta.rule.name }}'::text as model_name,
           '{{ node.name }}'::text as model_relation,
           '{{ mdl_rule_version(node) }}'::text as rule_version,
           '{{ mdl_rule_vars_json(node) }}'::jsonb as vars
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select null::text as model_code, null::text as model_name, null::text as model_relation,
           null::text as rule_version, null::jsonb as vars
    where false
    {%- endfor %}
),

final as (
    select {{ mdl_as_of() }} as as_of, r.model_code, r.model_name, r.model_relation, r.rule_version, r.vars,
           coalesce(c.findings, 0)::bigint as findings, now() as evaluated_at,
           -- what the run read (dz_assets/rules/fingerprint.py): a re-run of this day from the
           -- same inputs keeps these findings; empty when the run did not say (a Dagster run)
           nullif('{{ var("inputs_fingerprint", "") }}', '')::text as inputs_fingerprint
    from rules r
    left join counts c on c.model_code = r.model_code
)

select * from final
