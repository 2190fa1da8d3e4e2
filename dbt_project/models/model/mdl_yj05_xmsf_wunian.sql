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
    {{ mdl_track_activity(mdl_window_start(var('yj05_days'))) }}
),

persons as (
    select distinct gmsfhm from recent
),

checked as (
    select p.gmsfhm,
           not exists (select 1 from residents r where r.gmsfhm = p.gmsfhm) as no_resident,
           exists (select 1 from residents r
                   where r.gmsfhm = p.gmsfhm
                     and exists (select 1 from settled s where s.gmsfhm = p.gmsfhm)
                     and not exists (select 1 from settled s where s.gmsfhm = p.gmsfhm
                                                                and s.lhdz_dzbm = r.jzdz_dzbm)) as elsewhere,
           not exists (select 1 from activity t where t.gmsfhm = p.gmsfhm) as no_activity
    from persons p
),

home as (
    {{ mdl_home() }}
),

final as (
    select
        {{ mdl_finding_columns('YJ05') }},
        c.gmsfhm as subject_gmsfhm,
        h.xm as subject_xm,
        h.dzbm as subject_dzbm,
        (select jsonb_agg(jsonb_build_object('table', r.tbl, 'key', jsonb_build_object(r.key_name, r.key),
                    'fields', jsonb_build_object('GMSFHM', r.gmsfhm, 'RELEASED', r.released, 'LHDZ_DZBM', r.lhdz_dzbm))
                    order by r.tbl, r.key)
         from recent r where r.gmsfhm = c.gmsfhm)
        || coalesce((select jsonb_agg({{ mdl_evidence('YBSS_SYRKXX', [('SYRKBH', 'r.syrkbh')],
                    [('GMSFHM', 'r.gmsfhm'), ('JZDZ_DZBM', 'r.jzdz_dzbm'), ('ZXBS', "'0'")]) }} order by r.syrkbh)
            from residents r where r.gmsfhm = c.gmsfhm), '[]'::jsonb)
        || jsonb_build_array(jsonb_build_object('table', 'CHECKS', 'key', jsonb_build_object('GMSFHM', c.gmsfhm),
               'fields', jsonb_build_object('NO_ACTIVE_RESIDENT', c.no_resident, 'LIVES_OFF_SETTLEMENT', c.elsewhere,
                                            'NO_TRACK_ACTIVITY', c.no_activity,
                                            'ACTIVITY_FROM', {{ mdl_window_start(var('yj05_days')) }}))) as evidence
    from checked c
    left join home h on h.gmsfhm = c.gmsfhm
    where c.no_resident or c.elsewhere or c.no_activity
)

select * from final
