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

{{ mdl_part_silent('abroad', 'residents', 'activity') }},

abroad_evidence as (
    select gmsfhm, jsonb_agg(jsonb_build_object('table', tbl, 'key', jsonb_build_object(key_name, key),
               'fields', fields || jsonb_build_object('GMSFHM', gmsfhm)) order by tbl, key) as evidence
    from abroad where gmsfhm in (select gmsfhm from silent)
    group by gmsfhm
),

{{ mdl_part_silent_findings('ZX02', 'residents', 'abroad_evidence', var('zx02_days'), 'RECORDS') }}

select * from final
