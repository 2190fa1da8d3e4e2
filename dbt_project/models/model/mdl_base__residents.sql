{%- set sources = [{'tbl': none, 'relations': [source('ods', 'ybss_syrkxx')], 'pk': 'syrkbh'}] -%}
{%- set plan = mdl_base_plan() -%}
{{ config(materialized='incremental', incremental_strategy='append', unlogged=true, on_schema_change='sync_all_columns',
          pre_hook="{{ mdl_base_prepared() }}",
          post_hook="{{ mdl_base_finish([['gmsfhm'], ['jzdz_dzbm']]) }}") }}
{{ mdl_base_header(plan, sources) }}
-- Active 实有人口 rows (not cancelled: ZXBS 0), once for all rule models and kept by increments
-- (macros/model/base.sql): every registration whatever its day; the rules read it through
-- mdl_active_residents, which keeps those registered on or before D. Cleaned as
-- stg_ods__ybss_syrkxx cleans them (the same rows and values) without that view's survivorship
-- ranking, which sorts the register and no rule uses.
with source as (
    select * from {{ source('ods', 'ybss_syrkxx') }}
    where not _deleted and {{ mdl_base_changed(plan, sources[0]) }}
),

final as (
    select trim(syrkbh) as syrkbh, {{ normalize_idcard('gmsfhm') }} as gmsfhm,
           nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm, {{ normalize_dzbm('jzdz_dzbm') }} as jzdz_dzbm,
           jzdz_xzqhdm, djrq, syrkbh as _pk
    from source
    where coalesce(zxbs, '0') = '0'
)

select * from final where gmsfhm is not null
