{{ config(meta={'rule': {'code': 'ZX01', 'name': '死亡未注销居住轨迹满足注销规则模型',
                         'vars': []}}) }}
-- ZX01: a death cancellation (HZ_SWZXHKXX, death day SWRQ <= D) or hukou status 死亡, still an
-- active 实有人口 row, and no track activity after the death day up to D (status 死亡 without
-- a dated death record: no track activity at all).
with deaths as (
    select {{ normalize_idcard('gmsfhm') }} as gmsfhm, trim(ywlsh) as ywlsh, xm, swrq, zxrq
    from {{ source('ods', 'hz_swzxhkxx') }}
    where not _deleted and {{ mdl_not_after('swrq') }}
),

dead_hukou as (
    select * from ({{ mdl_hukou() }}) h where ryztdm = '2'
),

dead as (
    -- the earliest dated death record decides; undated ones and status alone leave no date
    select gmsfhm, min(swrq) as swrq
    from (
        select gmsfhm, swrq from deaths
        union all
        select gmsfhm, null::date from dead_hukou
    ) d
    where gmsfhm is not null
    group by gmsfhm
),

residents as (
    {{ mdl_active_residents() }}
),

still_resident as (
    select d.gmsfhm, d.swrq
    from dead d
    where exists (select 1 from residents r where r.gmsfhm = d.gmsfhm)
),

activity as (
    {{ mdl_track_activity("date '1900-01-01'", 'still_resident') }}
),

silent as (
    select s.*
    from still_resident s
    where not exists (
        select 1 from activity a
        where a.gmsfhm = s.gmsfhm and (s.swrq is null or a.day_to > s.swrq)
    )
),

death_evidence as (
    select gmsfhm, jsonb_agg({{ mdl_evidence('HZ_SWZXHKXX', [('YWLSH', 'ywlsh')],
               [('GMSFHM', 'gmsfhm'), ('SWRQ', 'swrq'), ('ZXRQ', 'zxrq')]) }} order by ywlsh) as evidence
    from deaths where gmsfhm in (select gmsfhm from silent)
    group by gmsfhm
),

hukou_evidence as (
    select gmsfhm, jsonb_agg({{ mdl_evidence('HZ_HJRKJBXX', [('RYBH', 'rybh')],
               [('GMSFHM', 'gmsfhm'), ('RYZTDM', 'ryztdm')]) }} order by rybh) as evidence
    from dead_hukou where gmsfhm in (select gmsfhm from silent)
    group by gmsfhm
),

resident_evidence as (
    {{ mdl_resident_evidence('residents', 'silent') }}
),

final as (
    select
        {{ mdl_finding_columns('ZX01') }},
        s.gmsfhm as subject_gmsfhm,
        r.xm as subject_xm,
        r.dzbm as subject_dzbm,
        coalesce(de.evidence, '[]'::jsonb) || coalesce(he.evidence, '[]'::jsonb) || r.evidence
        || jsonb_build_array(jsonb_build_object('table', 'TRACK_ACTIVITY', 'key', jsonb_build_object('GMSFHM', s.gmsfhm),
               'fields', jsonb_build_object('AFTER', s.swrq, 'UNTIL', {{ mdl_as_of() }}, 'RECORDS', 0))) as evidence
    from silent s
    join resident_evidence r on r.gmsfhm = s.gmsfhm
    left join death_evidence de on de.gmsfhm = s.gmsfhm
    left join hukou_evidence he on he.gmsfhm = s.gmsfhm
)

select * from final
