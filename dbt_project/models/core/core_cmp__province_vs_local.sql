-- 数据比对: values collected locally (smart-community registrations, 智慧小区人员注册) that
-- differ from the province's person record: one row per registration and differing field.
with registrations as (
    select * from {{ ref('stg_ods__zhxq_zhxqryzcxx') }} where gmsfhm is not null
),

persons as (
    select gmsfhm, xm, jz_dzbm from {{ ref('core_person') }}
),

diffs as (
    -- one join, then one row per differing field
    select r.zcbh, r.gmsfhm, d.field, d.province_value, d.local_value, r.xqbm,
           r._batch_id, r._file, r._line, r._msg_id, r._seq, r._loaded_at
    from registrations r
    join persons p using (gmsfhm)
    cross join lateral (values ('xm', p.xm, r.xm), ('jz_dzbm', p.jz_dzbm, r.zzdz_dzbm)) d(field, province_value, local_value)
    where d.province_value is not null and d.local_value is not null and d.province_value <> d.local_value
),

final as (
    select
        zcbh,
        gmsfhm,
        field,
        case field when 'xm' then '姓名' else '居住地址编码' end as field_name,
        province_value,
        local_value,
        xqbm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from diffs
)

select * from final
