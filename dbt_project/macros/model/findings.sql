{#- The findings history (mdl_findings) keeps every evaluated day; re-running a day replaces it.
    A subject is (model_code, subject_gmsfhm, subject_dzbm), kept on each row as subject_key, a
    hash like finding_id's without the day: the console reads the history through the masked view,
    where the subject's own columns are masked, and every lookup of a subject's days is one probe
    of the index __subject_day (subject_key, as_of).

    Every row of a subject carries the same first_seen, the subject's earliest as_of. The day's
    insert computes it for its own rows from the other days (one probe per finding); the post-hook
    corrects the other days' rows only for subjects whose earliest day moved, which a daily run in
    order never does, so a run's work stays that of one day however long the history grows.
    last_seen, the latest as_of, is read the same way when findings are read (rules/findings.sql,
    the console) rather than rewritten on every row of every persistent subject each day. -#}
{% macro mdl_subject_key(model_code, gmsfhm, dzbm) -%}
    substr(md5(concat_ws('|', {{ model_code }}, coalesce({{ gmsfhm }}, ''), coalesce({{ dzbm }}, ''))), 1, 16)
{%- endmacro %}

{#- A subject's days, for every probe above; made by the pre-hook on a table of an earlier
    shape, by the post-hook on a new one. -#}
{% macro mdl_findings_subject_index() -%}
    create index if not exists {{ this.identifier }}__subject_day on {{ this }} (subject_key, as_of)
{%- endmacro %}

{% macro mdl_findings_replace_day() -%}
    {%- set existing = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    create temporary table if not exists mdl_findings__touched (subject_key text) on commit drop;
    {%- if existing is not none %}
    {#- A table of an earlier version kept last_seen on every row and had no subject_key: brought
        to this shape once (its masked view is dropped with the column and made again at the end of
        the run, macros/access/protect.sql). -#}
    alter table {{ this }} drop column if exists last_seen cascade;
    drop index if exists {{ this.schema }}.{{ this.identifier }}__subject_key;
    alter table {{ this }} add column if not exists subject_key text;
    {#- The index before the keys: an index built after the update, over its HOT chains, could not
        serve this transaction (pg_index.indcheckxmin), and the day's probes would each scan the
        whole history. -#}
    {{ mdl_findings_subject_index() }};
    update {{ this }} set subject_key = {{ mdl_subject_key('model_code', 'subject_gmsfhm', 'subject_dzbm') }}
    where subject_key is null;
    with gone as (
        delete from {{ this }} where as_of = {{ mdl_as_of() }} returning subject_key
    )
    insert into mdl_findings__touched select subject_key from gone;
    {%- endif %}
{%- endmacro %}

{#- After the day's insert: of the subjects it touched (fired this day, or on the replaced version
    of it), those whose earliest day is not the first_seen their other days carry (the day was
    back-filled before their first, or a re-run dropped their first day) have those rows moved. -#}
{% macro mdl_findings_seen() -%}
    insert into mdl_findings__touched select subject_key from {{ this }} where as_of = {{ mdl_as_of() }};
    create index if not exists {{ this.identifier }}__as_of on {{ this }} (as_of, model_code);
    {{ mdl_findings_subject_index() }};
    analyze {{ this }};
    create temporary table mdl_findings__moved on commit drop as
    select t.subject_key, m.first_seen
    from (select distinct subject_key from mdl_findings__touched) t
    cross join lateral (
        select min(h.as_of) as first_seen from {{ this }} h where h.subject_key = t.subject_key
    ) m
    cross join lateral (
        select h.first_seen from {{ this }} h
        where h.subject_key = t.subject_key and h.as_of <> {{ mdl_as_of() }}
        order by h.as_of desc
        limit 1
    ) o
    where o.first_seen is distinct from m.first_seen;
    update {{ this }} f
    set first_seen = s.first_seen
    from mdl_findings__moved s
    where f.subject_key = s.subject_key and f.first_seen is distinct from s.first_seen
{%- endmacro %}

{#- A re-run of a day replaces it in a per-day table (append strategy; no unique key would delete
    a day that now has no rows). -#}
{% macro mdl_delete_day() -%}
    {%- set existing = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    {%- if existing is not none -%}
    delete from {{ this }} where as_of = {{ mdl_as_of() }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
