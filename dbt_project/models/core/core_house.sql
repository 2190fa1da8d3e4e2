-- 实有房屋: one row per house registration number, linked to the standard address by code, else
-- by a unique normalised address name, with the number of distinct owners registered for the
-- same address (more than one = a comparison case, see core_cmp__house_owners).
with houses as (
    select * from {{ ref('stg_ods__ybss_syfwxx') }}
),

-- inlined, not materialised: each use is an index lookup into core_address (materialised, it
-- was a copy and sort of every address for a few thousand houses)
addresses as not materialized (
    select dzbm, dzmc_norm, ml_dzbm, xzqhdm, gajgjgdm, is_active from {{ ref('core_address') }}
),

-- only the names houses carry are looked up (thousands of houses, millions of addresses)
unique_names as (
    select dzmc_norm, min(dzbm) as dzbm from addresses
    where dzmc_norm in (select dzmc_norm from houses where dzmc_norm is not null)
    group by dzmc_norm having count(*) = 1
),

linked as (
    select
        h.*,
        coalesce(ac.dzbm, an.dzbm) as dzbm_linked,
        case when ac.dzbm is not null then 'code' when an.dzbm is not null then 'name' end as dz_link
    from houses h
    left join addresses ac on ac.dzbm = h.dzbm
    left join unique_names an on ac.dzbm is null and an.dzmc_norm = h.dzmc_norm
),

owners as (
    select dzbm_linked, count(distinct fzgmsfhm) as owner_count
    from linked
    where zxbs = '0' and fzgmsfhm is not null and dzbm_linked is not null
    group by dzbm_linked
),

final as (
    select
        l.fwbh,
        l.dzbm_linked                             as dzbm,
        l.dzbm                                    as dzbm_src,
        l.dz_link,
        l.dzmc,
        a.ml_dzbm,
        coalesce(a.xzqhdm, l.xzqhdm)              as xzqhdm,
        coalesce(a.gajgjgdm, l.gajgjgdm)          as gajgjgdm,
        l.fwlbdm, l.fwlbmc, l.fwytdm, l.fwytmc,
        l.jzmj,
        l.fzgmsfhm,
        l.fzxm,
        l.fz_id_issue,
        l.czbs = '1'                              as is_rented,
        l.zxbs = '0'                              as is_active,
        coalesce(o.owner_count, 0)                as owner_count_at_address,
        l.djsj,
        l.gxsj,
        {{ lineage_columns('l') }}
    from linked l
    left join addresses a on a.dzbm = l.dzbm_linked
    left join owners o on o.dzbm_linked = l.dzbm_linked
)

select * from final
