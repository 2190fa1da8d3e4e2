with source as (
    select * from {{ source('ods', 'ezc_rhzfryxx') }} where not _deleted
),

final as (
    select
        trim(zfrybh)                            as zfrybh,
        trim(zfbh)                              as zfbh,
        {{ normalize_idcard('gmsfhm') }}        as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        rysfdm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
