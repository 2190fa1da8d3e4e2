-- 人员要素: one row per person (core_person) with the elements analysts and the rule models
-- look up: identity, hukou and residence, house, units represented, active labels and GABF
-- status, disputes, cases and the last sighting. _changed_at = newest load among them.
with persons as (
    select * from {{ ref('core_person') }}
),

labels as (
    select gmsfhm, array_agg(distinct bqdm order by bqdm) as bq_codes, max(_loaded_at) as _loaded_at
    from {{ ref('stg_ods__zdr_zazdrbqryxx') }}
    where zxbs = '0' and (yxqzrq is null or yxqzrq >= current_date) and gmsfhm is not null
    group by gmsfhm
),

gabf as (
    select gmsfhm, max(_loaded_at) as _loaded_at from {{ ref('stg_ods__zdr_tddxjbxx') }}
    where zxbs = '0' and gmsfhm is not null group by gmsfhm
),

units as (
    select fddbrgmsfhm as gmsfhm, count(*) as unit_count from {{ ref('core_unit') }}
    where is_active and fddbrgmsfhm is not null group by 1
),

owned as (
    select fzgmsfhm as gmsfhm, count(*) as house_count from {{ ref('core_house') }}
    where is_active and fzgmsfhm is not null group by 1
),

disputes as (
    select gmsfhm, count(distinct jfbh) as dispute_count, max(_loaded_at) as _loaded_at
    from {{ ref('stg_ods__ezc_mdjffxyhdsrxx') }} where gmsfhm is not null group by 1
),

cases as (
    select sarygmsfhm as gmsfhm, count(*) as case_count, max(_loaded_at) as _loaded_at
    from {{ ref('stg_ods__ybss_ajxx') }} where sarygmsfhm is not null group by 1
),

seen as (
    select gmsfhm, max(trk_time) as last_seen_at, count(*) as track_count
    from {{ ref('elem_person_track') }} group by 1
),

final as (
    select
        p.gmsfhm,
        p.xm,
        p.xbdm,
        p.csrq,
        date_part('year', age(current_date, p.csrq))::int as age,
        p.id_valid,
        p.id_issue,
        case when p.id_valid then make_date(substr(p.gmsfhm, 7, 4)::int, substr(p.gmsfhm, 11, 2)::int,
                                            substr(p.gmsfhm, 13, 2)::int) end as id_csrq,
        {{ idcard_sex('p.gmsfhm') }}                        as id_xbdm,
        p.is_hukou,
        p.is_actual,
        p.ryztdm,
        p.rylbdm,
        p.hukou_rows,
        p.hj_dzbm,
        p.hj_xzqhdm,
        p.hj_in_dazhou,
        p.jz_dzbm,
        p.jz_xzqhdm,
        p.jz_gajgjgdm,
        p.fwbh,
        coalesce(o.house_count, 0)                          as owned_house_count,
        coalesce(u.unit_count, 0)                           as represented_unit_count,
        coalesce(l.bq_codes, '{}')                          as bq_codes,
        g.gmsfhm is not null                                as is_gabf,
        coalesce(d.dispute_count, 0)                        as dispute_count,
        coalesce(c.case_count, 0)                           as case_count,
        s.last_seen_at,
        coalesce(s.track_count, 0)                          as track_count,
        p._batch_id, p._file, p._line, p._msg_id, p._seq, p._loaded_at,
        greatest(p._changed_at, l._loaded_at, g._loaded_at, d._loaded_at, c._loaded_at) as _changed_at
    from persons p
    left join labels l on l.gmsfhm = p.gmsfhm
    left join gabf g on g.gmsfhm = p.gmsfhm
    left join units u on u.gmsfhm = p.gmsfhm
    left join owned o on o.gmsfhm = p.gmsfhm
    left join disputes d on d.gmsfhm = p.gmsfhm
    left join cases c on c.gmsfhm = p.gmsfhm
    left join seen s on s.gmsfhm = p.gmsfhm
)

select * from final
