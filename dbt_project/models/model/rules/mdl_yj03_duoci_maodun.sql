{{ config(meta={'rule': {'code': 'YJ03', 'name': '多次矛盾纠纷模型',
                         'vars': ['yj03_min_disputes', 'yj03_days']}}) }}
-- YJ03: a party to >= yj03_min_disputes disputes that happened (FSSJ) in the yj03_days before D.
with parties as (
    select p.gmsfhm, p.dsrbh, j.jfbh, j.fssj, j.dzbm
    from {{ ref('stg_ods__ezc_mdjffxyhdsrxx') }} p
    join {{ ref('stg_ods__ezc_mdjffxyhjbxx') }} j on j.jfbh = p.jfbh
    where p.gmsfhm is not null
      and {{ mdl_day('j.fssj') }} between {{ mdl_window_start(var('yj03_days')) }} and {{ mdl_as_of() }}
),

repeated as (
    select gmsfhm
    from parties
    group by gmsfhm
    having count(distinct jfbh) >= {{ var('yj03_min_disputes') }}
),

home as (
    {{ mdl_home('repeated') }}
),

final as (
    select
        {{ mdl_finding_columns('YJ03') }},
        r.gmsfhm as subject_gmsfhm,
        h.xm as subject_xm,
        h.dzbm as subject_dzbm,
        (select jsonb_agg({{ mdl_evidence('EZC_MDJFFXYHDSRXX', [('DSRBH', 'p.dsrbh')],
                    [('GMSFHM', 'p.gmsfhm'), ('JFBH', 'p.jfbh'), ('FSSJ', mdl_ts('p.fssj')), ('DZBM', 'p.dzbm')]) }}
                    order by p.fssj, p.dsrbh)
         from parties p where p.gmsfhm = r.gmsfhm) as evidence
    from repeated r
    left join home h on h.gmsfhm = r.gmsfhm
)

select * from final
