{{ config(meta={'rule': {'code': 'YJ02', 'name': '人员活跃模型',
                         'vars': ['yj02_min_records', 'yj02_ratio']}}) }}
-- YJ02: a ZDR person with W access records (either direction) in [D-6, D] and B in the 30 days
-- before, [D-36, D-7], where W >= yj02_min_records and W >= yj02_ratio * 7 * B / 30.
with zdr as (
    select distinct gmsfhm from ({{ mdl_attributes() }}) a where gmsfhm is not null
),

counts as (
    select j.gmsfhm,
           count(*) filter (where j.day >= {{ mdl_as_of() }} - 6) as w,
           count(*) filter (where j.day < {{ mdl_as_of() }} - 6) as b
    from ({{ mdl_access(mdl_as_of() ~ ' - 36') }}) j
    join zdr z on z.gmsfhm = j.gmsfhm
    group by j.gmsfhm
),

home as (
    {{ mdl_home('counts') }}
),

final as (
    select
        {{ mdl_finding_columns('YJ02') }},
        c.gmsfhm as subject_gmsfhm,
        h.xm as subject_xm,
        h.dzbm as subject_dzbm,
        jsonb_build_array(jsonb_build_object('table', 'ZHXQ_ZHXQRYJCJLXX', 'key', jsonb_build_object('GMSFHM', c.gmsfhm),
            'fields', jsonb_build_object('RECORDS_D6_D', c.w, 'RECORDS_D36_D7', c.b,
                                         'FROM', {{ mdl_as_of() }} - 36, 'UNTIL', {{ mdl_as_of() }}))) as evidence
    from counts c
    left join home h on h.gmsfhm = c.gmsfhm
    where c.w >= {{ var('yj02_min_records') }}
      and c.w * 30 >= {{ var('yj02_ratio') }} * 7 * c.b
)

select * from final
