with source as (
    select * from {{ source('ods', 'ybss_sydwdzxx') }} where not _deleted
),

final as (
    select
        trim(dwdzbh)                            as dwdzbh,
        trim(dwbh)                              as dwbh,
        {{ normalize_dzbm('dzbm') }}            as dzbm,
        nullif(trim(dzmc), '')                  as dzmc,
        coalesce(zcdbs, '0')                    as zcdbs,
        coalesce(jydbs, '0')                    as jydbs,
        xzqhdm,
        nullif(trim(gajgjgdm), '')              as gajgjgdm,
        djsj,
        coalesce(zxbs, '0')                     as zxbs,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
