{#- Pre-hook of core_cmp__province_vs_local in a daily run: the ID numbers to recompute — those
    core_person recomputed (its change log), and those of the registrations loaded since, as they
    read now and as the rows here had them — go into a temporary table; their rows here are
    deleted (macros/incremental.sql). -#}
{% macro core_cmp_province_vs_local_pre() -%}
    {%- if is_incremental() %}
    {%- set src = source('ods', 'zhxq_zhxqryzcxx') %}
    create temporary table {{ this.identifier }}__changed on commit drop as
    with logged as ({{ dz_entity_changes(ref('core_person')) }}),
    registered as (
        select {{ normalize_idcard('gmsfhm') }} as key, trim(zcbh) as zcbh
        from {{ src }} where _loaded_at > {{ dz_changed_since(this) }}
    )
    {{ dz_all_keys('logged', ref('core_person'), 'gmsfhm') }}
    union select key from registered where key is not null
    union select gmsfhm from {{ this }} where zcbh in (select zcbh from registered);
    analyze {{ this.identifier }}__changed;
    delete from {{ this }} where gmsfhm in (select key from {{ this.identifier }}__changed);
    {%- endif %}
{%- endmacro %}
