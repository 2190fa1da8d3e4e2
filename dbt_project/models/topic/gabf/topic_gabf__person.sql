-- GABF人群 detail: one row per active 特定对象 (ZDR), linked to the population by normalised
-- ID number: residence from the actual population where known, else as the ZDR record states.
with subjects as (
    select distinct on (gmsfhm) *
    from {{ ref('stg_ods__zdr_tddxjbxx') }}
    where zxbs = '0' and gmsfhm is not null
    order by gmsfhm, lrsj desc nulls last, tddxbh
),

labels as (
    select gmsfhm, array_agg(distinct bqdm order by bqdm) as bq_codes
    from {{ ref('stg_ods__zdr_zazdrbqryxx') }}
    where zxbs = '0' and (yxqzrq is null or yxqzrq >= current_date) and gmsfhm is not null
    group by 1
),

persons as (
    select gmsfhm, jz_dzbm, jz_xzqhdm, jz_gajgjgdm, is_actual from {{ ref('core_person') }}
),

final as (
    select
        s.tddxbh,
        s.gmsfhm,
        s.xm,
        s.gkgajgjgdm,
        p.gmsfhm is not null                          as in_population,
        coalesce(p.is_actual, false)                  as is_actual,
        coalesce(p.jz_dzbm, s.jzdz_dzbm)              as jz_dzbm,
        coalesce(p.jz_xzqhdm, s.jzdz_xzqhdm)          as jz_xzqhdm,
        coalesce(p.jz_gajgjgdm, s.gkgajgjgdm)         as jz_gajgjgdm,
        (p.jz_dzbm is not null and s.jzdz_dzbm is not null and p.jz_dzbm <> s.jzdz_dzbm) as residence_differs,
        coalesce(l.bq_codes, '{}')                    as bq_codes,
        s.lrsj,
        s._batch_id, s._file, s._line, s._msg_id, s._seq, s._loaded_at
    from subjects s
    left join persons p on p.gmsfhm = s.gmsfhm
    left join labels l on l.gmsfhm = s.gmsfhm
)

select * from final
