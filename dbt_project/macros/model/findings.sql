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

{% macro mdl_findings_seen() -%}
    insert into mdl_findings__touched
    select model_code, subject_gmsfhm, subject_dzbm from {{ this }} where as_of = {{ mdl_as_of() }};
    create index if not exists {{ this.identifier }}__as_of on {{ this }} (as_of, model_code);
    create index if not exists {{ this.identifier }}__subject on {{ this }} (model_code, subject_gmsfhm, subject_dzbm);
    update {{ this }} f
    set first_seen = s.first_seen, last_seen = s.last_seen
    from (
        select h.model_code, h.subject_gmsfhm, h.subject_dzbm, min(h.as_of) as first_seen, max(h.as_of) as last_seen
        from {{ this }} h
        where (h.model_code, coalesce(h.subject_gmsfhm, ''), coalesce(h.subject_dzbm, '')) in (
            select model_code, coalesce(subject_gmsfhm, ''), coalesce(subject_dzbm, '') from mdl_findings__touched)
        group by h.model_code, h.subject_gmsfhm, h.subject_dzbm
    ) s
    where f.model_code = s.model_code
      and f.subject_gmsfhm is not distinct from s.subject_gmsfhm
      and f.subject_dzbm is not distinct from s.subject_dzbm
      and (f.first_seen is distinct from s.first_seen or f.last_seen is distinct from s.last_seen);
    analyze {{ this }}
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
