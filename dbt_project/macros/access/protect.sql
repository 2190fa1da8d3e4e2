{#- At the end of every run or build: the analysts' masked views and every group role's grants,
    again. A rebuilt table (dbt renames the old one away and drops it with cascade) takes its
    masked view and its grants with it; this puts them back from the columns' `meta: {pii: …}`
    (dz_assets/security: meta.column_class, meta.dz_protect, meta.dz_grant_access); a column's
    `meta: {hash_index: false}` spares a per-run table the index of lookups by hash. A warehouse
    without those (no `dzhub db init` since) is left alone. -#}
{% macro dz_protect_models() %}
    {%- if not execute or flags.WHICH not in ('run', 'build') -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set layers = ['core', 'topic', 'element', 'model'] -%}
    {%- set classes = [] -%}
    {%- set relations = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.schema in layers -%}
        {%- do relations.append("(" ~ dbt.string_literal(node.schema) ~ ", " ~ dbt.string_literal(node.alias) ~ ")") -%}
        {%- for column in node.columns.values() -%}
            {%- set meta = {} -%}
            {%- do meta.update((column.config or {}).get('meta') or {}) -%}
            {%- do meta.update(column.meta or {}) -%}
            {%- set pii = meta.get('pii') -%}
            {%- if pii -%}
                {%- do classes.append("(" ~ dbt.string_literal(node.schema) ~ ", " ~ dbt.string_literal(node.alias)
                      ~ ", " ~ dbt.string_literal(column.name) ~ ", " ~ dbt.string_literal(pii)
                      ~ ", " ~ ('false' if meta.get('hash_index') == false else 'true') ~ ")") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set ready = run_query("select to_regprocedure('meta.dz_protect(text,text)') is not null").columns[0].values()[0] -%}
    {%- if not ready or not relations -%}
        {{ return('select 1') }}
    {%- endif -%}
    delete from meta.column_class where schema_name in ('core', 'topic', 'element', 'model');
    {% if classes -%}
    insert into meta.column_class (schema_name, relation, column_name, pii, hash_index) values
    {{ classes | join(',\n    ') }};
    {%- endif %}
    select meta.dz_protect(s, r) from (values {{ relations | join(', ') }}) v (s, r);
    select meta.dz_grant_access();
{% endmacro %}
