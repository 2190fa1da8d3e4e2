{{ config(materialized='table', unlogged=true, post_hook=[
    "create index if not exists {{ this.identifier }}__gmsfhm on {{ this }} (gmsfhm)",
    "create index if not exists {{ this.identifier }}__dzbm on {{ this }} (jzdz_dzbm)",
    "analyze {{ this }}"]) }}
-- Active 实有人口 rows as of D, once per run for all rule models: not cancelled (ZXBS 0),
-- registered on or before D, cleaned as stg_ods__ybss_syrkxx cleans them (the same rows and
-- values) without that view's survivorship ranking, which sorts the register and no rule uses.
with source as (
    select * from {{ source('ods', 'ybss_syrkxx') }}
    where not _deleted and coalesce(zxbs, '0') = '0' and {{ mdl_not_after('djrq') }}
),

final as (
    select trim(syrkbh) as syrkbh, {{ normalize_idcard('gmsfhm') }} as gmsfhm,
           nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm, {{ normalize_dzbm('jzdz_dzbm') }} as jzdz_dzbm,
           jzdz_xzqhdm, djrq
    from source
)

select * from final where gmsfhm is not null
