{#- The findings history (mdl_findings) keeps every evaluated day; re-running a day replaces it.
    Before the day's insert, its old rows are deleted and their subjects kept in a temporary table
    (dropped at commit: hooks and the insert share one transaction); after it, first_seen and
    last_seen are recomputed from the whole history for the subjects the day touched, so a
    back-fill of an earlier day moves first_seen of the later days too, in whatever order days run. -#}
{% macro mdl_findings_replace_day() -%}
    {%- set existing = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    create temporary table if not exists mdl_findings__touched (
        model_code text, subject_gmsfhm text, subject_dzbm text) on commit drop;
    {%- if existing is not none %}
    with gone as (
        delete from {{ this }} where as_of = {{ mdl_as_of() }}
        returning model_code, subject_gmsfhm, subject_dzbm
    )
    insert into mdl_findings__touched select * from gone;
    {%- endif %}
{%- endmacro %}

{#- Subjects are compared as (model_code, coalesce(gmsfhm, ''), coalesce(dzbm, '')): equality on
    expressions hashes and uses the index, where "is not distinct from" would force a nested loop
    over the whole day against the whole history. -#}
{% macro mdl_findings_seen() -%}
    insert into mdl_findings__touched
    select model_code, subject_gmsfhm, subject_dzbm from {{ this }} where as_of = {{ mdl_as_of() }};
    create index if not exists {{ this.identifier }}__as_of on {{ this }} (as_of, model_code);
    create index if not exists {{ this.identifier }}__subject_key
        on {{ this }} (model_code, coalesce(subject_gmsfhm, ''), coalesce(subject_dzbm, ''));
    analyze {{ this }};
    update {{ this }} f
    set first_seen = s.first_seen, last_seen = s.last_seen
    from (
        select h.model_code, coalesce(h.subject_gmsfhm, '') as gm, coalesce(h.subject_dzbm, '') as dz,
               min(h.as_of) as first_seen, max(h.as_of) as last_seen
        from {{ this }} h
        join (
            select distinct model_code, coalesce(subject_gmsfhm, '') as gm, coalesce(subject_dzbm, '') as dz
            from mdl_findings__touched
        ) t on t.model_code = h.model_code and t.gm = coalesce(h.subject_gmsfhm, '')
           and t.dz = coalesce(h.subject_dzbm, '')
        group by 1, 2, 3
    ) s
    where f.model_code = s.model_code
      and coalesce(f.subject_gmsfhm, '') = s.gm
      and coalesce(f.subject_dzbm, '') = s.dz
      and (f.first_seen is distinct from s.first_seen or f.last_seen is distinct from s.last_seen)
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
