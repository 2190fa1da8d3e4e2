{{ config(meta={'rule': {'code': 'YJ08', 'name': '严重JSB患者涉警情核查模型',
                         'vars': ['yj08_days']}}) }}
-- YJ08: an active attribute 0301 and, in the yj08_days before D, a party to a dispute marked
-- 涉警情 (by FSSJ) or named in a case (by FASJ).
with patients as (
    select gmsfhm, min(sxbh) as sxbh from ({{ mdl_attributes() }}) a
    where sxdm = '0301' and gmsfhm is not null
    group by gmsfhm
),

incidents as (
    select p.gmsfhm, 'EZC_MDJFFXYHDSRXX' as tbl, 'DSRBH' as key_name, p.dsrbh as key, j.fssj as at,
           jsonb_build_object('JFBH', j.jfbh, 'SJQBS', j.sjqbs, 'JQBH', j.jqbh) as fields
    from {{ ref('stg_ods__ezc_mdjffxyhdsrxx') }} p
    join {{ ref('stg_ods__ezc_mdjffxyhjbxx') }} j on j.jfbh = p.jfbh
    where j.sjqbs = '1'
      and {{ mdl_day('j.fssj') }} between {{ mdl_window_start(var('yj08_days')) }} and {{ mdl_as_of() }}
    union all
    select a.sarygmsfhm, 'YBSS_AJXX', 'AJBH', a.ajbh, a.fasj, jsonb_build_object('AJLBDM', a.ajlbdm)
    from {{ ref('stg_ods__ybss_ajxx') }} a
    where {{ mdl_day('a.fasj') }} between {{ mdl_window_start(var('yj08_days')) }} and {{ mdl_as_of() }}
),

home as (
    {{ mdl_home('patients') }}
),

final as (
    select
        {{ mdl_finding_columns('YJ08') }},
        p.gmsfhm as subject_gmsfhm,
        min(h.xm) as subject_xm,
        min(h.dzbm) as subject_dzbm,
        jsonb_build_array({{ mdl_evidence('ZDR_TDDXSXXX', [('SXBH', 'p.sxbh')], [('GMSFHM', 'p.gmsfhm'), ('SXDM', "'0301'")]) }})
        || jsonb_agg(jsonb_build_object('table', i.tbl, 'key', jsonb_build_object(i.key_name, i.key),
               'fields', i.fields || jsonb_build_object('GMSFHM', i.gmsfhm, 'AT', {{ mdl_ts('i.at') }})) order by i.at, i.key) as evidence
    from patients p
    join incidents i on i.gmsfhm = p.gmsfhm
    left join home h on h.gmsfhm = p.gmsfhm
    group by p.gmsfhm, p.sxbh
)

select * from final
