{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    contract={'enforced': true},
    indexes=[{'columns': ['as_of', 'finding_id']}, {'columns': ['finding_id']},
             {'columns': ['as_of', 'gajgjgdm', 'model_code']}],
    pre_hook=["{{ mdl_findings_replace_day() }}"],
    post_hook=["{{ mdl_findings_seen() }}"],
) }}
-- The findings of all rule models, one row per model, subject and evaluated day (as_of), kept for
-- every day evaluated. Indexed for the console's 模型预警 page: a day's page by id, one finding
-- by id, a day's counts per station and model (index-only); a subject's days by subject_key
-- (__subject_day, made by the hooks: macros/model/findings.sql). first_seen is the subject's
-- earliest day in the whole history, last_seen (its latest) is read from it.
{%- set rules = [
    'mdl_xz01_zhxq_xinzeng', 'mdl_xz02_yihu_duoren', 'mdl_xz03_congye_xuesheng',
    'mdl_zx01_siwang_weizhuxiao', 'mdl_zx02_chuguo_liuxue', 'mdl_zx03_qianchu_shiwai',
    'mdl_yj01_renyuan_juji', 'mdl_yj02_renyuan_huoyue', 'mdl_yj03_duoci_maodun', 'mdl_yj04_renhu_fenli',
    'mdl_yj05_xmsf_wunian', 'mdl_yj06_jsb_hecha', 'mdl_yj07_maodun_sanci_shejing', 'mdl_yj08_jsb_shejing',
] %}
with evaluated as (
    {%- for name in rules %}
    {%- set node = graph.nodes.get('model.dz_hub.' ~ name) if execute else none %}
    select model_code, as_of, subject_gmsfhm, subject_xm, subject_dzbm, evidence,
           {{ mdl_subject_key('model_code', 'subject_gmsfhm', 'subject_dzbm') }} as subject_key,
           {% if node is not none %}'{{ node.config.meta.rule.name }}'::text{% else %}null::text{% endif %} as model_name,
           {% if node is not none %}'{{ mdl_rule_version(node) }}'::text{% else %}null::text{% endif %} as rule_version
    from {{ ref(name) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

addresses as (
    {{ mdl_addresses() }}
),

final as (
    select
        substr(md5(concat_ws('|', e.model_code, e.subject_gmsfhm, e.subject_dzbm, e.as_of::text)), 1, 16) as finding_id,
        e.subject_key,
        e.model_code,
        e.model_name,
        e.rule_version,
        e.as_of,
        e.subject_gmsfhm,
        e.subject_xm,
        e.subject_dzbm,
        a.xzqhdm,
        a.gajgjgdm,
        e.evidence,
        md5(e.evidence::text) as evidence_hash,
        {%- if is_incremental() %}
        least(e.as_of, (select min(h.as_of) from {{ this }} h where h.subject_key = e.subject_key)) as first_seen,
        {%- else %}
        e.as_of as first_seen,
        {%- endif %}
        now() as evaluated_at
    from evaluated e
    left join addresses a on a.dzbm = e.subject_dzbm
)

select * from final
