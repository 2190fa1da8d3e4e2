-- 实有房屋 indicators: one row per county and police station of the house.
with houses as (
    select * from {{ ref('core_house') }}
),

-- residents per address as elem_place keeps them (one row per address, kept by increments),
-- instead of regrouping core_person's millions of rows on every run
residents as (
    select dzbm, resident_count as n from {{ ref('elem_place') }} where resident_count > 0
),

counted as (
    select
        h.xzqhdm,
        h.gajgjgdm,
        count(*) filter (where h.is_active)                                 as house_total,
        count(*) filter (where h.is_active and h.is_rented)                 as rented_count,
        count(*) filter (where h.is_active and h.fwytdm = '1')              as residential_count,
        count(*) filter (where h.is_active and r.n is not null)             as occupied_count,
        count(*) filter (where h.is_active and h.is_rented and r.n is null) as rented_empty_count,
        count(*) filter (where h.is_active and h.owner_count_at_address > 1) as multi_owner_count,
        count(*) filter (where h.fz_id_issue is not null and h.fzgmsfhm is not null) as invalid_owner_id_count,
        count(*) filter (where h.dzbm is null)                              as unlinked_address_count,
        count(*) filter (where not h.is_active)                             as cancelled_count,
        {{ watermark_columns('h') }}
    from houses h
    left join residents r on r.dzbm = h.dzbm
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
