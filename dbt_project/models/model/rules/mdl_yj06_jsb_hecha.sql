{{ config(meta={'rule': {'code': 'YJ06', 'name': '严重JSB患者核查模型',
                         'vars': ['yj06_min_risk', 'yj06_days']}}) }}
-- YJ06: an active attribute 0301 and at least one of: no guardian (ZDR_GARYJHRXX); the latest
-- risk level by PDRQ >= yj06_min_risk; no home visit naming the person in the yj06_days before D.
with patients as (
    select gmsfhm, min(sxbh) as sxbh from ({{ mdl_attributes() }}) a
    where sxdm = '0301' and gmsfhm is not null
    group by gmsfhm
),

guardians as (
    select distinct {{ normalize_idcard('bjhrgmsfhm') }} as gmsfhm
    from {{ source('ods', 'zdr_garyjhrxx') }}
    where not _deleted
),

latest_risk as (
    select distinct on (gmsfhm) gmsfhm, pdbh, fxdj, pdrq
    from (
        select {{ normalize_idcard('gmsfhm') }} as gmsfhm, trim(pdbh) as pdbh, fxdj, pdrq
        from {{ source('ods', 'zdr_garyfxpdxx') }}
        where not _deleted and {{ mdl_not_after('pdrq') }}
    ) r
    order by gmsfhm, pdrq desc nulls last, pdbh desc
),

visited as (
    select distinct r.gmsfhm
    from {{ ref('stg_ods__ezc_rhzfryxx') }} r
    join {{ ref('stg_ods__ezc_rhzfjbxx') }} v on v.zfbh = r.zfbh
    where {{ mdl_day('v.zfsj') }} between {{ mdl_window_start(var('yj06_days')) }} and {{ mdl_as_of() }}
),

checked as (
    select p.gmsfhm, p.sxbh, r.pdbh, r.fxdj, r.pdrq,
           g.gmsfhm is null as no_guardian,
           coalesce(r.fxdj ~ '^[0-9]+$' and r.fxdj::int >= {{ var('yj06_min_risk') }}, false) as high_risk,
           v.gmsfhm is null as not_visited
    from patients p
    left join guardians g on g.gmsfhm = p.gmsfhm
    left join latest_risk r on r.gmsfhm = p.gmsfhm
    left join visited v on v.gmsfhm = p.gmsfhm
),

home as (
    {{ mdl_home('patients') }}
),

final as (
    select
        {{ mdl_finding_columns('YJ06') }},
        c.gmsfhm as subject_gmsfhm,
        h.xm as subject_xm,
        h.dzbm as subject_dzbm,
        jsonb_build_array({{ mdl_evidence('ZDR_TDDXSXXX', [('SXBH', 'c.sxbh')], [('GMSFHM', 'c.gmsfhm'), ('SXDM', "'0301'")]) }})
        || case when c.pdbh is null then '[]'::jsonb else jsonb_build_array(
               {{ mdl_evidence('ZDR_GARYFXPDXX', [('PDBH', 'c.pdbh')], [('GMSFHM', 'c.gmsfhm'), ('FXDJ', 'c.fxdj'), ('PDRQ', 'c.pdrq')]) }})
           end
        || jsonb_build_array(jsonb_build_object('table', 'CHECKS', 'key', jsonb_build_object('GMSFHM', c.gmsfhm),
               'fields', jsonb_build_object('NO_GUARDIAN', c.no_guardian, 'HIGH_RISK', c.high_risk,
                                            'NO_VISIT', c.not_visited,
                                            'VISIT_FROM', {{ mdl_window_start(var('yj06_days')) }}))) as evidence
    from checked c
    left join home h on h.gmsfhm = c.gmsfhm
    where c.no_guardian or c.high_risk or c.not_visited
)

select * from final
