with source as (
    select * from {{ source('ods', 'ybss_bzdzchxx') }}
),

renamed as (
    select
        trim(dzbm)        as dzbm,
        trim(dzmc)        as dzmc,
        xzqhdm,
        nullif(trim(gajgjgdm), '') as gajgjgdm,
        dzztdm,
        nullif(trim(sjdzbm), '')   as sjdzbm,
        lc,
        sh,
        djsj,
        gxsj,
        _deleted,
        _deleted_at,
        _batch_id,
        _file,
        _line,
        _msg_id,
        _seq
    from source
)

select * from renamed
