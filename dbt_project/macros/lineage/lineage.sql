{#- Lineage carried by every entity-grain row: the ODS row it came from (packaged rows: batch,
    file, line; change messages: message id and sequence) and when it was loaded. -#}
{% macro lineage_columns(alias=none, prefix='') -%}
    {%- set a = (alias ~ '.') if alias else '' -%}
    {{ a }}_batch_id as {{ prefix }}_batch_id,
    {{ a }}_file as {{ prefix }}_file,
    {{ a }}_line as {{ prefix }}_line,
    {{ a }}_msg_id as {{ prefix }}_msg_id,
    {{ a }}_seq as {{ prefix }}_seq,
    {{ a }}_loaded_at as {{ prefix }}_loaded_at
{%- endmacro %}

{#- Aggregate tables state what they reflect: the evaluation time and the newest batch, change
    sequence and load time among the rows they count. -#}
{% macro watermark_columns(alias=none) -%}
    {%- set a = (alias ~ '.') if alias else '' -%}
    now() as as_of,
    max({{ a }}_batch_id) as wm_batch_id,
    max({{ a }}_seq) as wm_seq,
    max({{ a }}_loaded_at) as wm_loaded_at
{%- endmacro %}

{#- Division and police-station names for an aggregate keyed by (xzqhdm, gajgjgdm). -#}
{% macro with_jurisdiction_names(relation) -%}
    select
        r.*,
        xz.name as xzqhmc,
        ga.name as gajgmc
    from {{ relation }} r
    left join {{ ref('stg_meta__code_table') }} xz on xz.dict = 'GB/T 2260' and xz.code = r.xzqhdm
    left join {{ ref('stg_meta__code_table') }} ga on ga.dict = 'GAJG' and ga.code = r.gajgjgdm
{%- endmacro %}
