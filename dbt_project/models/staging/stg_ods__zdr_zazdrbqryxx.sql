with source as (
    select * from {{ source('ods', 'zdr_zazdrbqryxx') }} where not _deleted
),

final as (
    select
        trim(bqrybh)                            as bqrybh,
        {{ normalize_idcard('gmsfhm') }}        as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        trim(bqdm)                              as bqdm,
        nullif(trim(bqmc), '')                  as bqmc,
        dbrq,
        yxqzrq,
        coalesce(zxbs, '0')                     as zxbs,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
