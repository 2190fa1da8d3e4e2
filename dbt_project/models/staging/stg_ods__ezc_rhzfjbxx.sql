with source as (
    select * from {{ source('ods', 'ezc_rhzfjbxx') }} where not _deleted
),

final as (
    select
        trim(zfbh)                              as zfbh,
        {{ normalize_dzbm('dzbm') }}            as dzbm,
        zfsj,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
