-- 房要素: one row per house (core_house) with its owner as a person element (found in the
-- population or not, living there or not) and the residents registered at its address.
with houses as (
    select * from {{ ref('core_house') }}
),

persons as (
    select gmsfhm, jz_dzbm, _changed_at from {{ ref('core_person') }}
),

address_houses as (
    select dzbm, max(_loaded_at) as _loaded_at from {{ ref('core_house') }} where dzbm is not null group by 1
),

-- counted at the houses' addresses only (thousands of houses, millions of persons; core_person
-- is indexed on jz_dzbm)
residents as (
    select jz_dzbm as dzbm, count(*) as resident_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_person') }}
    where is_actual and jz_dzbm is not null and jz_dzbm in (select dzbm from address_houses)
    group by 1
),

final as (
    select
        h.fwbh,
        h.dzbm,
        h.dz_link,
        h.ml_dzbm,
        h.xzqhdm,
        h.gajgjgdm,
        h.fwlbdm,
        h.fwytdm,
        h.jzmj,
        h.fzgmsfhm,
        h.fzxm,
        h.fz_id_issue,
        p.gmsfhm is not null                   as owner_in_population,
        coalesce(p.jz_dzbm = h.dzbm, false)    as owner_lives_here,
        h.is_rented,
        h.is_active,
        h.owner_count_at_address,
        coalesce(r.resident_count, 0)          as resident_count,
        h._batch_id, h._file, h._line, h._msg_id, h._seq, h._loaded_at,
        greatest(h._loaded_at, p._changed_at, r._loaded_at, ah._loaded_at) as _changed_at
    from houses h
    left join persons p on p.gmsfhm = h.fzgmsfhm
    left join residents r on r.dzbm = h.dzbm
    left join address_houses ah on ah.dzbm = h.dzbm
)

select * from final
