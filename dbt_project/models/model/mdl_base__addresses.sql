{{ config(materialized='table', unlogged=true, post_hook=[
    "create index if not exists {{ this.identifier }}__dzbm on {{ this }} (dzbm)",
    "analyze {{ this }}"]) }}
-- Standard addresses (门楼 and 层户) with their division and police station, one row per code,
-- once per run for the rule models that place an address in a division (YJ04, ZX03) and for the
-- findings' routing: as a CTE in each, it was sorted again in each and planned as 200 rows.
with addresses as (
    select dzbm, xzqhdm, gajgjgdm, 1 as lvl from {{ ref('stg_ods__ybss_bzdzchxx') }} where not _deleted
    union all
    select dzbm, xzqhdm, gajgjgdm, 2 as lvl from {{ ref('stg_ods__ybss_bzdzmlxx') }} where not _deleted
),

final as (
    select distinct on (dzbm) dzbm, xzqhdm, gajgjgdm
    from addresses
    where dzbm is not null
    order by dzbm, lvl
)

select * from final
