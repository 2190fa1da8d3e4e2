with source as (
    select * from {{ source('ods', 'zhxq_zhxqryzcxx') }} where not _deleted
),

final as (
    select
        trim(zcbh)                              as zcbh,
        {{ normalize_dzbm('xqbm') }}            as xqbm,
        {{ normalize_idcard('gmsfhm') }}        as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        {{ normalize_dzbm('zzdz_dzbm') }}       as zzdz_dzbm,
        rylxdm,
        zcsj,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
