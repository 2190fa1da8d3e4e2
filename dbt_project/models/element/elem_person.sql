{{ config(
    materialized='incremental',
    unique_key='gmsfhm',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['gmsfhm'], 'unique': true}, {'columns': ['_changed_at']}, {'columns': ['_built_at']},
             {'columns': [elem_person_has_facts()]}, {'columns': [elem_person_birthday()]}],
    pre_hook="{{ elem_person_changes_pre() }}",
) }}
{#- Incremental (macros/incremental/elem_person_changes.sql): a daily run replaces the persons core_person
    recomputed, those seen since (their track figures by increment), and those whose labels,
    GABF status, units, houses, disputes, cases or age in years changed. -#}

-- 人员要素: one row per person (core_person) with the elements analysts and the rule models
-- look up: identity, hukou and residence, house, units represented, active labels and GABF
-- status, disputes, cases and the last sighting. _changed_at = newest load among them.
with persons as (
    select * from {{ ref('core_person') }} where {{ dz_keys_filter('gmsfhm') }}
),

facts as (
    {{ elem_person_facts() | indent(4) }}
),

seen as (
    {%- if is_incremental() %}
    {{ elem_person_seen_daily() | indent(4) }}
    {%- else %}
    select gmsfhm, max(trk_time) as last_seen_at, count(*) as track_count
    from {{ ref('elem_person_track') }} group by 1
    {%- endif %}
),

final as (
    select
        p.gmsfhm,
        p.xm,
        p.xbdm,
        p.csrq,
        date_part('year', age(current_date, p.csrq))::int as age,
        p.id_valid,
        p.id_issue,
        case when p.id_valid then make_date(substr(p.gmsfhm, 7, 4)::int, substr(p.gmsfhm, 11, 2)::int,
                                            substr(p.gmsfhm, 13, 2)::int) end as id_csrq,
        {{ idcard_sex('p.gmsfhm') }}                        as id_xbdm,
        p.is_hukou,
        p.is_actual,
        p.ryztdm,
        p.rylbdm,
        p.hukou_rows,
        p.hj_dzbm,
        p.hj_xzqhdm,
        p.hj_in_dazhou,
        p.jz_dzbm,
        p.jz_xzqhdm,
        p.jz_gajgjgdm,
        p.fwbh,
        coalesce(f.owned_house_count, 0)                    as owned_house_count,
        coalesce(f.represented_unit_count, 0)               as represented_unit_count,
        coalesce(f.bq_codes, '{}')                          as bq_codes,
        coalesce(f.is_gabf, false)                          as is_gabf,
        coalesce(f.dispute_count, 0)                        as dispute_count,
        coalesce(f.case_count, 0)                           as case_count,
        s.last_seen_at,
        coalesce(s.track_count, 0)                          as track_count,
        p._batch_id, p._file, p._line, p._msg_id, p._seq, p._loaded_at,
        greatest(p._changed_at, f._loaded_at)              as _changed_at,
        now()                                               as _built_at
    from persons p
    left join facts f on f.gmsfhm = p.gmsfhm
    left join seen s on s.gmsfhm = p.gmsfhm
)

select * from final
