{#- The declarative sources that enrich an entity (their YAML's `fuse`), as each one's last run
    recorded them in meta.source_status, with the attribute columns its raw_src table has. Read at
    run time, so a new source needs its YAML file only: its first run registers it here. -#}
{% macro dz_fuse_sources(entity, attributes) %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set found = run_query(
        "select s.source, s.fuse_key, s.fuse_priority,
                coalesce(array_to_string(array_agg(c.column_name::text order by c.ordinal_position)
                         filter (where c.column_name::text in ('" ~ attributes | join("', '") ~ "')), ','), '')
         from meta.source_status s
         join information_schema.columns c on c.table_schema = 'raw_src' and c.table_name = s.source
         where s.fuse_entity = '" ~ entity ~ "' and s.enabled is not false
         group by 1, 2, 3
         having bool_or(c.column_name::text = s.fuse_key)
         order by 3, 1") %}
    {% set out = [] %}
    {% for r in found.rows %}
        {% do out.append({'source': r[0], 'key': r[1], 'priority': r[2],
                          'columns': (r[3].split(',') if r[3] else [])}) %}
    {% endfor %}
    {{ return(out) }}
{% endmacro %}

{#- One candidate row per entity key and source: the province's core model (priority
    fuse_province_priority) and every source that declared `fuse` for the entity; the survivor of
    each attribute is the first non-null value by priority (lower wins), then freshness. -#}
{% macro dz_fuse_entity(entity, key, core_model, attributes, core_fresh) %}
{% set sources = dz_fuse_sources(entity, attributes) %}
{% set core_cols = (adapter.get_columns_in_relation(core_model) | map(attribute='name') | list) if execute else [] %}
with candidates as (
    select {{ key }}::text as entity_key,
        {% for a in attributes %}{% if a in core_cols %}{{ a }}::text{% else %}null::text{% endif %} as {{ a }}, {% endfor %}
        'province'::text as source, {{ var('fuse_province_priority', 1) }}::int as priority,
        {{ key }}::text as source_key, null::text as source_position, {{ core_fresh }} as fresh_at
    from {{ core_model }}
    where {{ key }} is not null
    {% for s in sources %}
    union all
    select {{ adapter.quote(s.key) }}::text,
        {% for a in attributes %}{% if a in s.columns %}{{ adapter.quote(a) }}::text{% else %}null::text{% endif %} as {{ a }}, {% endfor %}
        '{{ s.source }}', {{ s.priority }}, _key, _position, _loaded_at
    from raw_src.{{ adapter.quote(s.source) }}
    where not _deleted and {{ adapter.quote(s.key) }} is not null
    {% endfor %}
),

ranked as (
    select *, row_number() over (partition by entity_key order by priority, fresh_at desc nulls last, source) as rank_no
    from candidates
),

final as (
    select
        entity_key as {{ key }},
        {% for a in attributes %}
        (array_agg({{ a }} order by rank_no) filter (where {{ a }} is not null))[1] as {{ a }},
        (array_agg(source order by rank_no) filter (where {{ a }} is not null))[1] as {{ a }}_source,
        (array_agg(source_key order by rank_no) filter (where {{ a }} is not null))[1] as {{ a }}_source_key,
        {% endfor %}
        (array_agg(source order by rank_no))[1] as survivor_source,
        (array_agg(source_key order by rank_no))[1] as survivor_source_key,
        (array_agg(source_position order by rank_no))[1] as survivor_position,
        min(priority) as survivor_priority,
        max(fresh_at) as fresh_at,
        count(*) as candidate_rows,
        array_agg(distinct source order by source) as sources,
        now() as _built_at
    from ranked
    group by entity_key
)

select * from final
{% endmacro %}
