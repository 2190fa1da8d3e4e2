{{ config(meta={'rule': {'code': 'ZX02', 'name': '出国留学人员居住轨迹满足注销规则模型',
                         'vars': ['zx02_days']}}) }}
-- ZX02: an exit-settlement cancellation (HZ_CGJDJZXHKXX, exit day CJRQ <= D) or an active
-- attribute 0401 (留学) started before D; still an active 实有人口 row; no track activity in
-- the zx02_days before D.
with abroad as (
    select {{ normalize_idcard('gmsfhm') }} as gmsfhm, 'HZ_CGJDJZXHKXX' as tbl, 'YWLSH' as key_name,
           trim(ywlsh) as key, jsonb_build_object('CJRQ', cjrq, 'QWGJDQDM', qwgjdqdm, 'ZXRQ', zxrq) as fields
    from {{ source('ods', 'hz_cgjdjzxhkxx') }}
    where not _deleted and {{ mdl_not_after('cjrq') }}
    union all
    select gmsfhm, 'ZDR_TDDXSXXX', 'SXBH', sxbh,
           jsonb_build_object('SXDM', sxdm, 'YXQSRQ', yxqsrq, 'YXQZRQ', yxqzrq)
    from ({{ mdl_attributes() }}) a
    where sxdm = '0401' and (yxqsrq is null or yxqsrq < {{ mdl_as_of() }})
),

residents as (
    {{ mdl_active_residents() }}
),

activity as (
    {{ mdl_track_activity(mdl_window_start(var('zx02_days')), 'abroad') }}
),

silent as (
    select distinct a.gmsfhm
    from abroad a
    where a.gmsfhm is not null
      and exists (select 1 from residents r where r.gmsfhm = a.gmsfhm)
      and not exists (select 1 from activity t where t.gmsfhm = a.gmsfhm)
),

abroad_evidence as (
    select gmsfhm, jsonb_agg(jsonb_build_object('table', tbl, 'key', jsonb_build_object(key_name, key),
               'fields', fields || jsonb_build_object('GMSFHM', gmsfhm)) order by tbl, key) as evidence
    from abroad where gmsfhm in (select gmsfhm from silent)
    group by gmsfhm
),

resident_evidence as (
    {{ mdl_resident_evidence('residents', 'silent') }}
),

final as (
    select
        {{ mdl_finding_columns('ZX02') }},
        s.gmsfhm as subject_gmsfhm,
        r.xm as subject_xm,
        r.dzbm as subject_dzbm,
        a.evidence || r.evidence
        || jsonb_build_array(jsonb_build_object('table', 'TRACK_ACTIVITY', 'key', jsonb_build_object('GMSFHM', s.gmsfhm),
               'fields', jsonb_build_object('FROM', {{ mdl_window_start(var('zx02_days')) }}, 'UNTIL', {{ mdl_as_of() }},
                                            'RECORDS', 0))) as evidence
    from silent s
    join resident_evidence r on r.gmsfhm = s.gmsfhm
    join abroad_evidence a on a.gmsfhm = s.gmsfhm
)

select * from final
