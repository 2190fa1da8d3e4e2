{{ config(materialized='table', unlogged=true, post_hook=[
    "create index if not exists {{ this.identifier }}__gmsfhm on {{ this }} (gmsfhm)",
    "create index if not exists {{ this.identifier }}__dzbm on {{ this }} (hjdz_dzbm)",
    "analyze {{ this }}"]) }}
-- Hukou persons as of D (registered on or before D), once per run for all rule models, cleaned
-- as stg_ods__hz_hjrkjbxx cleans them, without its survivorship ranking.
with source as (
    select * from {{ source('ods', 'hz_hjrkjbxx') }}
    where not _deleted and {{ mdl_not_after('djsj', true) }}
),

final as (
    select trim(rybh) as rybh, {{ normalize_idcard('gmsfhm') }} as gmsfhm,
           nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm, nullif(trim(hh), '') as hh,
           {{ normalize_dzbm('hjdz_dzbm') }} as hjdz_dzbm, hjdz_xzqhdm, ryztdm, djsj
    from source
)

select * from final where gmsfhm is not null
