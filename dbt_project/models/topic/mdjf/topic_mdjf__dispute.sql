-- 矛盾纠纷 detail: one row per dispute (e治采), placed at its standard address (division and
-- police station from the address), with its parties counted and found in the population.
with disputes as (
    select * from {{ ref('stg_ods__ezc_mdjffxyhjbxx') }}
),

parties as (
    select d.jfbh, count(*) as party_count, count(p.gmsfhm) as party_in_population_count
    from {{ ref('stg_ods__ezc_mdjffxyhdsrxx') }} d
    left join {{ ref('core_person') }} p on p.gmsfhm = d.gmsfhm
    group by 1
),

addresses as (
    select dzbm, xzqhdm, gajgjgdm from {{ ref('core_address') }}
),

final as (
    select
        d.jfbh,
        d.jflxdm,
        d.jflxmc,
        d.fssj,
        d.dzbm,
        a.dzbm is not null                        as address_linked,
        a.xzqhdm,
        a.gajgjgdm,
        d.sjqbs = '1'                             as police_involved,
        d.jqbh,
        coalesce(pt.party_count, 0)               as party_count,
        coalesce(pt.party_in_population_count, 0) as party_in_population_count,
        d._batch_id, d._file, d._line, d._msg_id, d._seq, d._loaded_at
    from disputes d
    left join addresses a on a.dzbm = d.dzbm
    left join parties pt on pt.jfbh = d.jfbh
)

select * from final
