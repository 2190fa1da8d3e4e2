-- 实有单位: one row per unit number, with its registered address (the active 注册地 entry of
-- the unit-address table, else the base record's address) linked to the standard address, the
-- number of active business addresses, and the legal representative's normalised ID number.
with units as (
    select * from {{ ref('stg_ods__ybss_sydwjbxx') }}
),

unit_addresses as (
    select * from {{ ref('stg_ods__ybss_sydwdzxx') }} where zxbs = '0'
),

registered as (
    select distinct on (dwbh) dwbh, dzbm
    from unit_addresses where zcdbs = '1'
    order by dwbh, djsj desc nulls last, dwdzbh
),

business as (
    select dwbh, count(*) as jydz_count from unit_addresses where jydbs = '1' group by dwbh
),

addresses as (
    select dzbm, xzqhdm, gajgjgdm from {{ ref('core_address') }}
),

final as (
    select
        u.dwbh,
        u.dwmc,
        u.tyshxydm,
        u.dwlxdm,
        u.dwlxmc,
        u.fddbrgmsfhm,
        u.fddbrxm,
        coalesce(r.dzbm, u.dzbm)                 as zc_dzbm,
        a.dzbm is not null                       as zc_dz_linked,
        coalesce(b.jydz_count, 0)                as jydz_count,
        coalesce(a.xzqhdm, u.xzqhdm)             as xzqhdm,
        coalesce(a.gajgjgdm, u.gajgjgdm)         as gajgjgdm,
        u.cyrys,
        u.zxbs = '0'                             as is_active,
        u.djsj,
        {{ lineage_columns('u') }}
    from units u
    left join registered r on r.dwbh = u.dwbh
    left join business b on b.dwbh = u.dwbh
    left join addresses a on a.dzbm = coalesce(r.dzbm, u.dzbm)
)

select * from final
