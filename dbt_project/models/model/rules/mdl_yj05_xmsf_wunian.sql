{{ config(meta={'rule': {'code': 'YJ05', 'name': 'XMSF未满五年人员核查模型',
                         'vars': ['yj05_years', 'yj05_days']}}) }}
-- YJ05: released less than yj05_years before D (HZ_XSJJLHXX SFRQ, or the YXQSRQ of an attribute
-- 0201 row, expired or not: release day > D minus the years), and at least one of: no active
-- 实有人口 row; an active 实有人口 address other than a known settlement address (LHDZ_DZBM;
-- false without a settlement record); no track activity in the yj05_days before D.
with releases as (
    select {{ normalize_idcard('gmsfhm') }} as gmsfhm, 'HZ_XSJJLHXX' as tbl, 'YWLSH' as key_name,
           trim(ywlsh) as key, sfrq as released, {{ normalize_dzbm('lhdz_dzbm') }} as lhdz_dzbm
    from {{ source('ods', 'hz_xsjjlhxx') }}
    where not _deleted and sfrq <= {{ mdl_as_of() }}
    union all
    select gmsfhm, 'ZDR_TDDXSXXX', 'SXBH', sxbh, yxqsrq, null
    from ({{ mdl_attributes(active_only=false) }}) a
    where sxdm = '0201' and yxqsrq is not null
),

recent as (
    select * from releases
    where gmsfhm is not null
      and released > ({{ mdl_as_of() }} - make_interval(years => {{ var('yj05_years') }}))::date
),

residents as (
    {{ mdl_active_residents() }}
),

settled as (
    select distinct {{ normalize_idcard('gmsfhm') }} as gmsfhm, {{ normalize_dzbm('lhdz_dzbm') }} as lhdz_dzbm
    from {{ source('ods', 'hz_xsjjlhxx') }}
    where not _deleted and lhdz_dzbm is not null and {{ mdl_not_after('lhrq') }}
),

activity as (
    {{ mdl_track_activity(mdl_window_start(var('yj05_days')), 'recent') }}
),

persons as (
    select distinct gmsfhm from recent
),

resident_flags as (
    -- per person: has an active row; has one at no known settlement address (with one known)
    select r.gmsfhm,
           bool_or(k.gmsfhm is not null and s.gmsfhm is null) as elsewhere
    from residents r
    left join (select distinct gmsfhm from settled) k on k.gmsfhm = r.gmsfhm
    left join settled s on s.gmsfhm = r.gmsfhm and s.lhdz_dzbm = r.jzdz_dzbm
    where r.gmsfhm in (select gmsfhm from persons)
    group by r.gmsfhm
),

active as (
    select distinct gmsfhm from activity where gmsfhm in (select gmsfhm from persons)
),

checked as (
    select p.gmsfhm,
           f.gmsfhm is null as no_resident,
           coalesce(f.elsewhere, false) as elsewhere,
           a.gmsfhm is null as no_activity
    from persons p
    left join resident_flags f on f.gmsfhm = p.gmsfhm
    left join active a on a.gmsfhm = p.gmsfhm
),

release_evidence as (
    select gmsfhm, jsonb_agg(jsonb_build_object('table', tbl, 'key', jsonb_build_object(key_name, key),
               'fields', jsonb_build_object('GMSFHM', gmsfhm, 'RELEASED', released, 'LHDZ_DZBM', lhdz_dzbm))
               order by tbl, key) as evidence
    from recent
    group by gmsfhm
),

home as (
    {{ mdl_home('persons') }}
),

resident_evidence as (
    {{ mdl_resident_evidence('residents', 'persons') }}
),

final as (
    select
        {{ mdl_finding_columns('YJ05') }},
        c.gmsfhm as subject_gmsfhm,
        h.xm as subject_xm,
        h.dzbm as subject_dzbm,
        rv.evidence
        || coalesce(re.evidence, '[]'::jsonb)
        || jsonb_build_array(jsonb_build_object('table', 'CHECKS', 'key', jsonb_build_object('GMSFHM', c.gmsfhm),
               'fields', jsonb_build_object('NO_ACTIVE_RESIDENT', c.no_resident, 'LIVES_OFF_SETTLEMENT', c.elsewhere,
                                            'NO_TRACK_ACTIVITY', c.no_activity,
                                            'ACTIVITY_FROM', {{ mdl_window_start(var('yj05_days')) }}))) as evidence
    from checked c
    left join home h on h.gmsfhm = c.gmsfhm
    left join resident_evidence re on re.gmsfhm = c.gmsfhm
    join release_evidence rv on rv.gmsfhm = c.gmsfhm
    where c.no_resident or c.elsewhere or c.no_activity
)

select * from final
