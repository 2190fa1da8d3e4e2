{#- Incremental entity models by changed key.

    An entity model (core_person, …) stamps every row it writes with _built_at (now() of the
    build). A daily run recomputes only the keys whose inputs changed since the model's last
    build: ODS rows carry _loaded_at (set by the loader and by every CDC apply, deletes
    included), so "changed" = _loaded_at after the last build, less a look-back that covers a
    change transaction still open while the last build read (var dz_change_lookback).

    A FULL package swaps whole ODS tables: rows may vanish without a trace, so a FULL finished
    after the last build makes the next run recompute every key (dz_full_load_since).

    The keys a run recomputed are appended to a change log beside the model
    (<model>__changes: key, changed_at; a NULL key = every key changed, written by a full
    refresh); models built on the entity read the log to find the keys they must recompute,
    including keys that disappeared. -#}

{% macro dz_last_build(relation) -%}
    (select coalesce(max(_built_at), '-infinity'::timestamptz) from {{ relation }})
{%- endmacro %}

{#- As a literal (compile time), like dz_newest_load: `_loaded_at > (subquery)` is planned at a
    third of the table, a scan of millions of ODS rows instead of a range of their _loaded_at index. -#}
{% macro dz_changed_since(relation) -%}
    ({{ dz_newest_load(relation, column='_built_at') }} - interval '{{ var("dz_change_lookback") }}')
{%- endmacro %}

{#- True when a FULL package was loaded after the relation's last build (compile time). -#}
{% macro dz_full_load_since(relation) -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set q -%}
        select exists (
            select 1 from meta.batch
            where kind = 'FULL' and status in ('loaded', 'applied')
              and finished_at > {{ dz_last_build(relation) }}
        )
    {%- endset -%}
    {{ return(run_query(q).columns[0].values()[0]) }}
{%- endmacro %}

{#- The table comment of an incremental model's bookkeeping table (a key log beside the model in
    the analysts' schema, not a dbt model): says it is one, then what it holds. -#}
{% macro dz_bookkeeping_comment(relation, what) -%}
    comment on table {{ relation }} is '增量簿记，非分析用表：{{ what }}'
{%- endmacro %}

{% macro dz_change_log(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__changes
{%- endmacro %}

{#- Pre-hook of an entity model: the change log exists; in an incremental run the keys to
    recompute (the model's `changed_sql`) go into a temporary table the model reads. -#}
{% macro dz_changes_pre(key, changed_sql) -%}
    create table if not exists {{ dz_change_log(this) }} (key text, changed_at timestamptz not null default now());
    create index if not exists {{ this.identifier }}__changes_at on {{ dz_change_log(this) }} (changed_at);
    {{ dz_bookkeeping_comment(dz_change_log(this), this.identifier ~ ' 每次增量运行重算的主键（key）及时间，全量构建记一行空主键；下游模型据此只重算受影响的行。') }};
    {%- if is_incremental() %}
    create temporary table {{ this.identifier }}__changed on commit drop as {{ changed_sql }};
    analyze {{ this.identifier }}__changed;
    {%- endif %}
{%- endmacro %}

{#- Post-hook: keys recomputed that produced no row are gone (their rows are deleted), and the
    recomputed keys are logged for the models downstream; a full build logs a NULL key. -#}
{% macro dz_changes_post(key) -%}
    {%- if is_incremental() %}
    delete from {{ this }} t using {{ this.identifier }}__changed c
    where t.{{ key }} = c.key and t._built_at < now();
    insert into {{ dz_change_log(this) }} (key) select key from {{ this.identifier }}__changed;
    {%- else %}
    truncate {{ dz_change_log(this) }};
    insert into {{ dz_change_log(this) }} (key) values (null);
    {%- endif %}
{%- endmacro %}

{#- In a model built on an entity: the entity keys logged since this model's last build (NULL
    = all keys). -#}
{% macro dz_entity_changes(entity_relation) -%}
    select key from {{ dz_change_log(entity_relation) }}
    where changed_at > {{ dz_changed_since(this) }}
{%- endmacro %}

{#- True when any of the relations has a row loaded after `since` (compile time, so that a
    model's change detection reads only the inputs that moved). -#}
{% macro dz_any_changed(relations, since) -%}
    {%- if not execute -%}{{ return(true) }}{%- endif -%}
    {%- set q -%}
        select {% for r in relations %}exists (select 1 from {{ r }} where _loaded_at > {{ since }}){% if not loop.last %} or {% endif %}{% endfor %}
    {%- endset -%}
    {{ return(run_query(q).columns[0].values()[0]) }}
{%- endmacro %}

{#- Pre-hook of a model keyed like an entity (one row per person, …) and built on it: in an
    incremental run, the entity keys logged since this model's last build go into a temporary
    table and their rows here are deleted; the model then selects those keys only
    (dz_keys_filter) and appends them. When the log says every key changed, the table lists
    every key of the entity and of this model (dz_all_keys): it never holds a NULL, so that the
    model's filter stays a plain semi-join the planner can answer from an index. -#}
{% macro dz_follow_pre(entity_relation, key) -%}
    {%- if is_incremental() %}
    create temporary table {{ this.identifier }}__changed on commit drop as
    with logged as ({{ dz_entity_changes(entity_relation) }})
    {{ dz_all_keys('logged', entity_relation, key) }};
    analyze {{ this.identifier }}__changed;
    delete from {{ this }} where {{ key }} in (select key from {{ this.identifier }}__changed);
    {%- endif %}
{%- endmacro %}

{#- The keys of a change log's rows (the CTE `logged`), a NULL key (every key changed) expanded to
    the keys of the entity and of this model. -#}
{% macro dz_all_keys(logged, entity_relation, key) -%}
    select key from {{ logged }} where key is not null
    union select {{ key }} from {{ entity_relation }} where exists (select 1 from {{ logged }} where key is null)
    union select {{ key }} from {{ this }} where exists (select 1 from {{ logged }} where key is null)
{%- endmacro %}

{#- In an incremental run: the row's key is one of those the pre-hook listed (a semi-join on an
    indexed key: never OR'ed with anything, which would make it a scan of the whole table). -#}
{% macro dz_keys_filter(column) -%}
    {%- if is_incremental() -%}
    {{ column }} in (select key from {{ this.identifier }}__changed)
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a model that reads only the rows of a big ODS table loaded since its last build:
    an index on the table's _loaded_at, so that the read is a range scan over the day's rows
    instead of a scan of the whole table (the gate records: 5M rows at 1M persons). The ODS DDL
    does not carry it and a FULL swaps in a fresh table without it; the next run builds it again
    (a run that reads every row anyway). -#}
{% macro dz_ods_loaded_at_index(src) -%}
    create index if not exists {{ src.identifier }}__loaded_at on {{ src }} (_loaded_at)
{%- endmacro %}

{#- The newest value of a timestamp column (default _loaded_at) among the relation's rows matching
    `where`, as a literal (compile time): compared with a subquery's result, PostgreSQL plans
    `_loaded_at > $1` at a third of the table and scans all of it instead of the index. -#}
{% macro dz_newest_load(relation, where='true', column='_loaded_at') -%}
    {%- if not execute -%}{{ return("'-infinity'::timestamptz") }}{%- endif -%}
    {%- set q -%}
        select coalesce(max({{ column }}), '-infinity')::text from {{ relation }} where {{ where }}
    {%- endset -%}
    {{ return("'" ~ run_query(q).columns[0].values()[0] ~ "'::timestamptz") }}
{%- endmacro %}
