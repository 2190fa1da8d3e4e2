with source as (
    select * from {{ source('ods', 'ezc_mdjffxyhdsrxx') }} where not _deleted
),

final as (
    select
        trim(dsrbh)                             as dsrbh,
        trim(jfbh)                              as jfbh,
        {{ normalize_idcard('gmsfhm') }}        as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
