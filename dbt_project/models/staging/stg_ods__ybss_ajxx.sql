with source as (
    select * from {{ source('ods', 'ybss_ajxx') }} where not _deleted
),

final as (
    select
        trim(ajbh)                              as ajbh,
        {{ normalize_idcard('sarygmsfhm') }}    as sarygmsfhm,
        ajlbdm,
        fasj,
        {{ normalize_dzbm('fadz_dzbm') }}       as fadz_dzbm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
