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

{% macro dz_changed_since(relation) -%}
    ({{ dz_last_build(relation) }} - interval '{{ var("dz_change_lookback") }}')
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

{% macro dz_change_log(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__changes
{%- endmacro %}

{#- Pre-hook of an entity model: the change log exists; in an incremental run the keys to
    recompute (the model's `changed_sql`) go into a temporary table the model reads. -#}
{% macro dz_changes_pre(key, changed_sql) -%}
    create table if not exists {{ dz_change_log(this) }} (key text, changed_at timestamptz not null default now());
    create index if not exists {{ this.identifier }}__changes_at on {{ dz_change_log(this) }} (changed_at);
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
    table (every key when the log says all changed) and their rows here are deleted; the model
    then selects those keys only (dz_keys_filter) and appends them. -#}
{% macro dz_follow_pre(entity_relation, key) -%}
    {%- if is_incremental() %}
    create temporary table {{ this.identifier }}__changed on commit drop as
    with logged as ({{ dz_entity_changes(entity_relation) }})
    select key from logged where key is not null
    union all select null where exists (select 1 from logged where key is null);
    delete from {{ this }} where {{ key }} in (select key from {{ this.identifier }}__changed)
        or exists (select 1 from {{ this.identifier }}__changed where key is null);
    {%- endif %}
{%- endmacro %}

{% macro dz_keys_filter(column) -%}
    {%- if is_incremental() -%}
    ({{ column }} in (select key from {{ this.identifier }}__changed)
     or exists (select 1 from {{ this.identifier }}__changed where key is null))
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}
