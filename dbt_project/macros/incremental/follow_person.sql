{#- The config of a person-grain table built on core_person (one row per ID number): incremental,
    a daily run replaces the rows of the persons core_person recomputed (its change log,
    macros/incremental/incremental.sql: dz_follow_pre deletes them, dz_keys_filter selects them
    again), indexed for that semi-join and for the build-time scans. Stated once here for every
    such model; call it at the head of the model. -#}
{% macro dz_follow_person_config() -%}
{{ config(
    materialized='incremental',
    unique_key='gmsfhm',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['gmsfhm'], 'unique': true}, {'columns': ['_built_at']}],
    pre_hook="{{ dz_follow_pre(ref('core_person'), 'gmsfhm') }}",
) }}
{%- endmacro %}
