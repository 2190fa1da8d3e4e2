{#- Shared pieces of the rule models (models/model/, spec/rule-models.md): the evaluation day,
    the rule version, date filters and the recurring sets (active 实有人口, ZDR persons, track
    activity, addresses). Every date the models compare is a Beijing calendar day. -#}

{#- The evaluation day D as a SQL date literal: var as_of, or yesterday in Beijing. -#}
{% macro mdl_as_of() -%}
    {%- set d = var('as_of', none) -%}
    {%- if d is none or d == '' -%}
        {%- set bj = modules.datetime.datetime.utcnow() + modules.datetime.timedelta(hours=8) -%}
        {%- set d = (bj.date() - modules.datetime.timedelta(days=1)).isoformat() -%}
    {%- endif -%}
    date '{{ d }}'
{%- endmacro %}

{#- The day D - n + 1: first day of "the n days before D" (D included). -#}
{% macro mdl_window_start(n) -%}
    ({{ mdl_as_of() }} - ({{ n }})::int + 1)
{%- endmacro %}

{#- Beijing calendar day of a timestamptz (or a date). -#}
{% macro mdl_day(col) -%}
    ({{ col }} at time zone 'Asia/Shanghai')::date
{%- endmacro %}

{#- A row dated on or before D (an undated row counts as dated before). -#}
{% macro mdl_not_after(col, is_ts=false) -%}
    {%- if is_ts -%}
    ({{ col }} is null or {{ mdl_day(col) }} <= {{ mdl_as_of() }})
    {%- else -%}
    ({{ col }} is null or {{ col }} <= {{ mdl_as_of() }})
    {%- endif -%}
{%- endmacro %}

{#- rule_version of a rule model node: 'v1.' + 10 hex of the md5 of its SQL as written (raw_code,
    not as compiled for a day or schema), with the SQL of the shared rule parts it calls
    (mdl_part_* macros, macros/model/parts.sql; none for most models, whose text is then the
    model's alone), and the values of its threshold vars (meta.rule.vars). The day and the
    environment are in none of these, so the version only moves when the rule does. -#}
{% macro mdl_rule_version(node) -%}
    {%- set rule = node.config.meta.rule -%}
    {%- set values = [] -%}
    {%- for v in rule.vars -%}
        {%- do values.append(v ~ '=' ~ var(v)) -%}
    {%- endfor -%}
    {%- set parts = namespace(text='') -%}
    {%- for m in node.depends_on.macros | sort if m.startswith('macro.dz_hub.mdl_part_') -%}
        {%- set parts.text = parts.text ~ '\n--part ' ~ dz_hub[m.split('.')[-1]].macro.macro_sql -%}
    {%- endfor -%}
    {%- set text = (node.raw_code ~ parts.text) | replace('\r\n', '\n') -%}
    {{ return('v1.' ~ local_md5(text ~ '\n--vars ' ~ values | join(';'))[:10]) }}
{%- endmacro %}

{#- The threshold vars of a rule model node and their values, as a JSON object text. -#}
{% macro mdl_rule_vars_json(node) -%}
    {%- set out = {} -%}
    {%- for v in node.config.meta.rule.vars -%}
        {%- do out.update({v: var(v)}) -%}
    {%- endfor -%}
    {{ return(tojson(out, sort_keys=true)) }}
{%- endmacro %}

{#- The rule models, in code order (nodes of models/model/ with meta.rule). -#}
{% macro mdl_rule_nodes() -%}
    {%- set nodes = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.config.meta.get('rule') -%}
                {%- do nodes.append(node) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(nodes | sort(attribute='name')) }}
{%- endmacro %}

{#- Columns every rule model ends with: the finding as the union table reads it. -#}
{% macro mdl_finding_columns(code) -%}
    '{{ code }}'::text as model_code,
    {{ mdl_as_of() }} as as_of
{%- endmacro %}

{#- Active 实有人口 rows as of D: registered on or before D (mdl_base__residents holds them all). -#}
{% macro mdl_active_residents() -%}
    select syrkbh, gmsfhm, xm, jzdz_dzbm, jzdz_xzqhdm, djrq from {{ ref('mdl_base__residents') }}
    where {{ mdl_not_after('djrq') }}
{%- endmacro %}

{#- Hukou persons as of D: registered on or before D (mdl_base__hukou holds them all). -#}
{% macro mdl_hukou() -%}
    select rybh, gmsfhm, xm, hh, hjdz_dzbm, hjdz_xzqhdm, ryztdm, djsj from {{ ref('mdl_base__hukou') }}
    where {{ mdl_not_after('djsj', true) }}
{%- endmacro %}

{#- ZDR attribute rows (ZDR_TDDXSXXX) that started on or before D; active ones also not ended. -#}
{% macro mdl_attributes(active_only=true) -%}
    select trim(sxbh) as sxbh, {{ normalize_idcard('gmsfhm') }} as gmsfhm, sxdm, yxqsrq, yxqzrq
    from {{ source('ods', 'zdr_tddxsxxx') }}
    where not _deleted and {{ mdl_not_after('yxqsrq') }}
    {%- if active_only %} and (yxqzrq is null or yxqzrq >= {{ mdl_as_of() }}){% endif %}
{%- endmacro %}

{#- Standard addresses (门楼 and 层户) with their division and police station, one row per code
    (mdl_base__addresses, built once per run). -#}
{% macro mdl_addresses() -%}
    select dzbm, xzqhdm, gajgjgdm from {{ ref('mdl_base__addresses') }}
{%- endmacro %}

{#- Track activity of persons in [start, D] (mdl_base__activity, every dated record): one row
    per record begun on or before D (a track without KSRQ counts as begun) with its address
    (dzbm, null when unknown), the table and key that evidence names, and the days it covers
    [day_from, day_to], a track still open (or ending after D) running to D; with `persons` (a CTE
    with gmsfhm) only theirs. -#}
{% macro mdl_track_activity(start, persons=none) -%}
    select gmsfhm, tbl, key, day_from, least(coalesce(day_to, {{ mdl_as_of() }}), {{ mdl_as_of() }}) as day_to, dzbm
    from {{ ref('mdl_base__activity') }}
    where coalesce(day_to, {{ mdl_as_of() }}) >= {{ start }} and {{ mdl_not_after('day_from') }}
    {%- if persons %} and gmsfhm in (select gmsfhm from {{ persons }}){% endif %}
{%- endmacro %}

{#- Smart-community access records of [start, D] from mdl_base__activity. -#}
{% macro mdl_access(start) -%}
    select gmsfhm, key as jlbh, xqbm, dzbm, crsj, crfxdm, day_from as day
    from {{ ref('mdl_base__activity') }}
    where tbl = 'ZHXQ_ZHXQRYJCJLXX' and day_from between {{ start }} and {{ mdl_as_of() }}
{%- endmacro %}

{#- Where the persons of `persons` (a CTE or subquery with gmsfhm) are to be found, for routing
    a finding that names no address of its own: the latest active 实有人口 address, else the
    hukou address. Only those persons are looked up (the registers hold millions). -#}
{% macro mdl_home(persons) -%}
    select distinct on (gmsfhm) gmsfhm, dzbm, xm
    from (
        select gmsfhm, jzdz_dzbm as dzbm, xm, 1 as pref, djrq as day, syrkbh as key
        from ({{ mdl_active_residents() }}) r
        where jzdz_dzbm is not null and gmsfhm in (select gmsfhm from {{ persons }})
        union all
        select gmsfhm, hjdz_dzbm, xm, 2, {{ mdl_day('djsj') }}, rybh
        from ({{ mdl_hukou() }}) h
        where hjdz_dzbm is not null and gmsfhm in (select gmsfhm from {{ persons }})
    ) c
    order by gmsfhm, pref, day desc nulls last, key
{%- endmacro %}

{#- One evidence item: {"table", "key": {…}, "fields": {…}}. key/fields are lists of
    (name, expression) pairs. -#}
{% macro mdl_evidence(table, key, fields) -%}
    jsonb_build_object('table', '{{ table }}',
        'key', jsonb_build_object({% for k, e in key %}'{{ k }}', {{ e }}{% if not loop.last %}, {% endif %}{% endfor %}),
        'fields', jsonb_build_object({% for k, e in fields %}'{{ k }}', {{ e }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{#- A timestamp as evidence shows it: Beijing time with its offset, whatever the session's zone. -#}
{% macro mdl_ts(col) -%}
    to_char({{ col }} at time zone 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"')
{%- endmacro %}

{#- Active 实有人口 rows of the persons in `persons` (a CTE with gmsfhm), one row per person:
    a name, the first address by SYRKBH and the rows as evidence. A join, not a subquery per
    finding (a correlated subquery over a materialised CTE scans all of it once per finding). -#}
{% macro mdl_resident_evidence(residents, persons) -%}
    select r.gmsfhm,
           min(r.xm) as xm,
           (array_agg(r.jzdz_dzbm order by r.syrkbh))[1] as dzbm,
           jsonb_agg({{ mdl_evidence('YBSS_SYRKXX', [('SYRKBH', 'r.syrkbh')],
                [('GMSFHM', 'r.gmsfhm'), ('JZDZ_DZBM', 'r.jzdz_dzbm'), ('ZXBS', "'0'")]) }} order by r.syrkbh) as evidence
    from {{ residents }} r
    where r.gmsfhm in (select gmsfhm from {{ persons }})
    group by r.gmsfhm
{%- endmacro %}
