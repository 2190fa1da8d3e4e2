-- 数据比对: values collected locally (smart-community registrations, 智慧小区人员注册) that
-- differ from the province's person record: one row per registration and differing field.
with registrations as (
    select * from {{ ref('stg_ods__zhxq_zhxqryzcxx') }} where gmsfhm is not null
),

persons as (
    select gmsfhm, xm, jz_dzbm from {{ ref('core_person') }}
),

diffs as (
    select r.zcbh, r.gmsfhm, 'xm' as field, p.xm as province_value, r.xm as local_value, r.xqbm,
           r._batch_id, r._file, r._line, r._msg_id, r._seq, r._loaded_at
    from registrations r join persons p using (gmsfhm)
    where r.xm is not null and p.xm is not null and r.xm <> p.xm
    union all
    select r.zcbh, r.gmsfhm, 'jz_dzbm', p.jz_dzbm, r.zzdz_dzbm, r.xqbm,
           r._batch_id, r._file, r._line, r._msg_id, r._seq, r._loaded_at
    from registrations r join persons p using (gmsfhm)
    where r.zzdz_dzbm is not null and p.jz_dzbm is not null and r.zzdz_dzbm <> p.jz_dzbm
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
