with source as (
    select * from {{ source('ods', 'ybss_bzdzmlxx') }}
),

renamed as (
    select
        {{ normalize_dzbm('dzbm') }} as dzbm,
        trim(dzmc)        as dzmc,
        {{ normalize_address('dzmc') }} as dzmc_norm,
        xzqhdm,
        nullif(trim(gajgjgdm), '') as gajgjgdm,
        dzztdm,
        {{ normalize_dzbm('sjdzbm') }} as sjdzbm,
        mlph,
        zbx,
        zby,
        djsj,
        gxsj,
        _deleted,
        _deleted_at,
        _batch_id,
        _file,
        _line,
        _msg_id,
        _seq,
        _loaded_at
    from source
)

select * from renamed
