{{ config(meta={'rule': {'code': 'YJ07', 'name': '矛盾纠纷3次以上涉警情人员核查模型',
                         'vars': []}}) }}
-- YJ07: a party to at least 3 disputes marked 涉警情 (SJQBS 1), over all time up to D.
with parties as (
    select p.gmsfhm, p.dsrbh, j.jfbh, j.fssj, j.jqbh
    from {{ ref('stg_ods__ezc_mdjffxyhdsrxx') }} p
    join {{ ref('stg_ods__ezc_mdjffxyhjbxx') }} j on j.jfbh = p.jfbh
    where p.gmsfhm is not null and j.sjqbs = '1' and {{ mdl_not_after('j.fssj', true) }}
),

repeated as (
    select gmsfhm from parties group by gmsfhm having count(distinct jfbh) >= 3
),

home as (
    {{ mdl_home('repeated') }}
),

final as (
    select
        {{ mdl_finding_columns('YJ07') }},
        r.gmsfhm as subject_gmsfhm,
        h.xm as subject_xm,
        h.dzbm as subject_dzbm,
        (select jsonb_agg({{ mdl_evidence('EZC_MDJFFXYHDSRXX', [('DSRBH', 'p.dsrbh')],
                    [('GMSFHM', 'p.gmsfhm'), ('JFBH', 'p.jfbh'), ('FSSJ', mdl_ts('p.fssj')), ('SJQBS', "'1'"), ('JQBH', 'p.jqbh')]) }}
                    order by p.fssj, p.dsrbh)
         from parties p where p.gmsfhm = r.gmsfhm) as evidence
    from repeated r
    left join home h on h.gmsfhm = r.gmsfhm
)

select * from final
