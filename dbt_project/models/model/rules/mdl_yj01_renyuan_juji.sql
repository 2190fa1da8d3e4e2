{{ config(meta={'rule': {'code': 'YJ01', 'name': '人员聚集模型',
                         'vars': ['yj01_min_persons', 'yj01_window_minutes']}}) }}
-- YJ01: at one smart community, >= yj01_min_persons distinct ZDR persons enter (CRFXDM 1)
-- within a sliding window of yj01_window_minutes on day D (last entry minus first within the
-- window, across clock hours). One finding per community; evidence: the persons and times of
-- the first window holding the most persons.
with zdr as (
    select distinct gmsfhm from ({{ mdl_attributes() }}) a where gmsfhm is not null
),

entries as (
    select j.jlbh, j.xqbm, j.gmsfhm, j.crsj
    from ({{ mdl_access(mdl_as_of()) }}) j
    join zdr z on z.gmsfhm = j.gmsfhm
    where j.crfxdm = '1'
),

windows as (
    -- each entry opens a window; who else enters before it closes
    select s.xqbm, s.jlbh as start_jlbh, s.crsj as start_at,
           count(distinct e.gmsfhm) as persons
    from entries s
    join entries e on e.xqbm = s.xqbm and e.crsj >= s.crsj
        and e.crsj <= s.crsj + make_interval(mins => {{ var('yj01_window_minutes') }})
    group by s.xqbm, s.jlbh, s.crsj
),

best as (
    select distinct on (xqbm) *
    from windows
    where persons >= {{ var('yj01_min_persons') }}
    order by xqbm, persons desc, start_at, start_jlbh
),

communities as (
    select distinct on (xqbm) {{ normalize_dzbm('xqbm') }} as xqbm, {{ normalize_dzbm('dzbm') }} as dzbm, xqmc
    from {{ source('ods', 'zhxq_zhxqjcxx') }}
    where not _deleted
    order by xqbm
),

final as (
    select
        {{ mdl_finding_columns('YJ01') }},
        null::text as subject_gmsfhm,
        null::text as subject_xm,
        q.dzbm as subject_dzbm,
        jsonb_build_array(jsonb_build_object('table', 'ZHXQ_ZHXQJCXX', 'key', jsonb_build_object('XQBM', b.xqbm),
            'fields', jsonb_build_object('DZBM', q.dzbm, 'XQMC', q.xqmc, 'PERSONS', b.persons,
                                         'WINDOW_START', {{ mdl_ts('b.start_at') }})))
        || (select jsonb_agg({{ mdl_evidence('ZHXQ_ZHXQRYJCJLXX', [('JLBH', 'e.jlbh')],
                    [('GMSFHM', 'e.gmsfhm'), ('XQBM', 'e.xqbm'), ('CRSJ', mdl_ts('e.crsj')), ('CRFXDM', "'1'")]) }}
                    order by e.crsj, e.jlbh)
            from entries e
            where e.xqbm = b.xqbm and e.crsj >= b.start_at
              and e.crsj <= b.start_at + make_interval(mins => {{ var('yj01_window_minutes') }})) as evidence
    from best b
    left join communities q on q.xqbm = b.xqbm
)

select * from final
