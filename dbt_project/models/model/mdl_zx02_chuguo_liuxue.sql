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
    {{ mdl_track_activity(mdl_window_start(var('zx02_days'))) }}
),

silent as (
    select distinct a.gmsfhm
    from abroad a
    where a.gmsfhm is not null
      and exists (select 1 from residents r where r.gmsfhm = a.gmsfhm)
      and not exists (select 1 from activity t where t.gmsfhm = a.gmsfhm)
),

final as (
    select
        {{ mdl_finding_columns('ZX02') }},
        s.gmsfhm as subject_gmsfhm,
        (select min(r.xm) from residents r where r.gmsfhm = s.gmsfhm) as subject_xm,
        (select r.jzdz_dzbm from residents r where r.gmsfhm = s.gmsfhm order by r.syrkbh limit 1) as subject_dzbm,
        (select jsonb_agg(jsonb_build_object('table', a.tbl, 'key', jsonb_build_object(a.key_name, a.key),
                    'fields', a.fields || jsonb_build_object('GMSFHM', a.gmsfhm)) order by a.tbl, a.key)
         from abroad a where a.gmsfhm = s.gmsfhm)
        || (select jsonb_agg({{ mdl_evidence('YBSS_SYRKXX', [('SYRKBH', 'r.syrkbh')],
                    [('GMSFHM', 'r.gmsfhm'), ('JZDZ_DZBM', 'r.jzdz_dzbm'), ('ZXBS', "'0'")]) }} order by r.syrkbh)
            from residents r where r.gmsfhm = s.gmsfhm)
        || jsonb_build_array(jsonb_build_object('table', 'TRACK_ACTIVITY', 'key', jsonb_build_object('GMSFHM', s.gmsfhm),
               'fields', jsonb_build_object('FROM', {{ mdl_window_start(var('zx02_days')) }}, 'UNTIL', {{ mdl_as_of() }},
                                            'RECORDS', 0))) as evidence
    from silent s
)

select * from final
