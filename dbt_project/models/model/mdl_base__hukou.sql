{%- set sources = [{'tbl': none, 'relations': [source('ods', 'hz_hjrkjbxx')], 'pk': 'rybh'}] -%}
{%- set plan = mdl_base_plan() -%}
{{ config(materialized='incremental', incremental_strategy='append', unlogged=true, on_schema_change='sync_all_columns',
          pre_hook="{{ mdl_base_prepared() }}",
          post_hook="{{ mdl_base_finish([['gmsfhm'], ['hjdz_dzbm']]) }}") }}
{{ mdl_base_header(plan, sources) }}
-- Hukou persons, once for all rule models and kept by increments (macros/model/base.sql): every
-- registration whatever its day; the rules read it through mdl_hukou, which keeps those
-- registered on or before D. Cleaned as stg_ods__hz_hjrkjbxx cleans them, without its
-- survivorship ranking.
with source as (
    select * from {{ source('ods', 'hz_hjrkjbxx') }}
    where not _deleted and {{ mdl_base_changed(plan, sources[0]) }}
),

final as (
    select trim(rybh) as rybh, {{ normalize_idcard('gmsfhm') }} as gmsfhm,
           nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm, nullif(trim(hh), '') as hh,
           {{ normalize_dzbm('hjdz_dzbm') }} as hjdz_dzbm, hjdz_xzqhdm, ryztdm, djsj, rybh as _pk
    from source
)

select * from final where gmsfhm is not null
