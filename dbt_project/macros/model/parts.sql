{#- Parts of rule logic several rule models share. A part's SQL is part of the rule: every macro
    named mdl_part_* that a rule model calls is hashed into its rule_version beside the model's
    own SQL (mdl_rule_version), so changing a part moves the version of each model that uses it. -#}

{#- ZX02, ZX03: the candidates (a CTE with gmsfhm) who still have an active 实有人口 row and no
    track activity in the window: the "silent" residents a cancellation rule reports. -#}
{% macro mdl_part_silent(candidates, residents, activity) -%}
silent as (
    select distinct c.gmsfhm
    from {{ candidates }} c
    where c.gmsfhm is not null
      and exists (select 1 from {{ residents }} r where r.gmsfhm = c.gmsfhm)
      and not exists (select 1 from {{ activity }} t where t.gmsfhm = c.gmsfhm)
)
{%- endmacro %}

{#- ZX02, ZX03: one finding per silent resident: its name and first address, the candidate's own
    evidence, its 实有人口 rows, and the empty activity window (records_field: 0). -#}
{% macro mdl_part_silent_findings(code, residents, candidate_evidence, window_days, records_field) -%}
resident_evidence as (
    {{ mdl_resident_evidence(residents, 'silent') }}
),

final as (
    select
        {{ mdl_finding_columns(code) }},
        s.gmsfhm as subject_gmsfhm,
        r.xm as subject_xm,
        r.dzbm as subject_dzbm,
        c.evidence || r.evidence
        || jsonb_build_array(jsonb_build_object('table', 'TRACK_ACTIVITY', 'key', jsonb_build_object('GMSFHM', s.gmsfhm),
               'fields', jsonb_build_object('FROM', {{ mdl_window_start(window_days) }}, 'UNTIL', {{ mdl_as_of() }},
                                            '{{ records_field }}', 0))) as evidence
    from silent s
    join resident_evidence r on r.gmsfhm = s.gmsfhm
    join {{ candidate_evidence }} c on c.gmsfhm = s.gmsfhm
)
{%- endmacro %}
