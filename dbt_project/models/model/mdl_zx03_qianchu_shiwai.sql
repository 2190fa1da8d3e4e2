{{ config(meta={'rule': {'code': 'ZX03', 'name': '迁（流）出市外人员居住轨迹满足注销规则模型',
                         'vars': ['zx03_days']}}) }}
-- ZX03: moved out (HZ_QHCXX, QCRQ <= D) to a division outside Dazhou, still an active 实有人口
-- row at a Dazhou address, and no track activity in Dazhou in the zx03_days before D. "In
-- Dazhou": an address whose division starts 5117, or one not in the address tables.
with moves as (
    select {{ normalize_idcard('gmsfhm') }} as gmsfhm, trim(ywlsh) as ywlsh, qcrq, qwdxzqhdm
    from {{ source('ods', 'hz_qhcxx') }}
    where not _deleted and qcrq <= {{ mdl_as_of() }}
      and qwdxzqhdm is not null and qwdxzqhdm not like '5117%'
),

addresses as (
    {{ mdl_addresses() }}
),

residents as (
    select r.*
    from ({{ mdl_active_residents() }}) r
    left join addresses ad on ad.dzbm = r.jzdz_dzbm
    where ad.dzbm is null or ad.xzqhdm like '5117%'
),

activity as (
    select t.*
    from ({{ mdl_track_activity(mdl_window_start(var('zx03_days')), 'moves') }}) t
    left join addresses ad on ad.dzbm = t.dzbm
    where ad.dzbm is null or ad.xzqhdm like '5117%'
),

silent as (
    select distinct m.gmsfhm
    from moves m
    where m.gmsfhm is not null
      and exists (select 1 from residents r where r.gmsfhm = m.gmsfhm)
      and not exists (select 1 from activity t where t.gmsfhm = m.gmsfhm)
),

move_evidence as (
    select gmsfhm, jsonb_agg({{ mdl_evidence('HZ_QHCXX', [('YWLSH', 'ywlsh')],
               [('GMSFHM', 'gmsfhm'), ('QCRQ', 'qcrq'), ('QWDXZQHDM', 'qwdxzqhdm')]) }} order by ywlsh) as evidence
    from moves where gmsfhm in (select gmsfhm from silent)
    group by gmsfhm
),

resident_evidence as (
    {{ mdl_resident_evidence('residents', 'silent') }}
),

final as (
    select
        {{ mdl_finding_columns('ZX03') }},
        s.gmsfhm as subject_gmsfhm,
        r.xm as subject_xm,
        r.dzbm as subject_dzbm,
        m.evidence || r.evidence
        || jsonb_build_array(jsonb_build_object('table', 'TRACK_ACTIVITY', 'key', jsonb_build_object('GMSFHM', s.gmsfhm),
               'fields', jsonb_build_object('FROM', {{ mdl_window_start(var('zx03_days')) }}, 'UNTIL', {{ mdl_as_of() }},
                                            'IN_DAZHOU_RECORDS', 0))) as evidence
    from silent s
    join resident_evidence r on r.gmsfhm = s.gmsfhm
    join move_evidence m on m.gmsfhm = s.gmsfhm
)

select * from final
