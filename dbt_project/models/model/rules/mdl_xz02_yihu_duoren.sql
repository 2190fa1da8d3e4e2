{{ config(meta={'rule': {'code': 'XZ02', 'name': '同一地址存在一人居住两人以上户口满足新增规则模型',
                         'vars': []}}) }}
-- XZ02: an address with >= 2 hukou persons in status 正常 but exactly one active 实有人口
-- resident; each of those hukou persons without an active 实有人口 row anywhere is a finding.
with hukou as (
    select * from ({{ mdl_hukou() }}) h where ryztdm = '1' and hjdz_dzbm is not null
),

residents as (
    {{ mdl_active_residents() }}
),

addresses as (
    select hjdz_dzbm as dzbm, count(distinct gmsfhm) as hukou_persons
    from hukou
    group by hjdz_dzbm
    having count(distinct gmsfhm) >= 2
),

lone_resident as (
    select a.dzbm, a.hukou_persons, min(r.syrkbh) as syrkbh, min(r.gmsfhm) as gmsfhm
    from addresses a
    join residents r on r.jzdz_dzbm = a.dzbm
    group by a.dzbm, a.hukou_persons
    having count(distinct r.gmsfhm) = 1
),

final as (
    select
        {{ mdl_finding_columns('XZ02') }},
        h.gmsfhm as subject_gmsfhm,
        min(h.xm) as subject_xm,
        l.dzbm as subject_dzbm,
        jsonb_agg({{ mdl_evidence('HZ_HJRKJBXX', [('RYBH', 'h.rybh')],
                [('GMSFHM', 'h.gmsfhm'), ('HJDZ_DZBM', 'h.hjdz_dzbm'), ('RYZTDM', 'h.ryztdm')]) }} order by h.rybh)
        || jsonb_build_array({{ mdl_evidence('YBSS_SYRKXX', [('SYRKBH', 'l.syrkbh')],
                [('GMSFHM', 'l.gmsfhm'), ('JZDZ_DZBM', 'l.dzbm'), ('ZXBS', "'0'"),
                 ('HUKOU_PERSONS_AT_ADDRESS', 'l.hukou_persons')]) }}) as evidence
    from lone_resident l
    join hukou h on h.hjdz_dzbm = l.dzbm
    where not exists (select 1 from residents r where r.gmsfhm = h.gmsfhm)
    group by h.gmsfhm, l.dzbm, l.syrkbh, l.gmsfhm, l.hukou_persons
)

select * from final
