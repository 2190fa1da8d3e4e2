with source as (
    select * from {{ source('ods', 'ybss_sydwjbxx') }} where not _deleted
),

renamed as (
    select
        trim(dwbh)                              as dwbh,
        nullif(trim(dwmc), '')                  as dwmc,
        nullif(upper(trim(tyshxydm)), '')       as tyshxydm,
        dwlxdm,
        {{ normalize_idcard('fddbrgmsfhm') }}   as fddbrgmsfhm,
        nullif(regexp_replace(fddbrxm, '\s', '', 'g'), '') as fddbrxm,
        {{ normalize_dzbm('dzbm') }}            as dzbm,
        xzqhdm,
        nullif(trim(gajgjgdm), '')              as gajgjgdm,
        cyrys,
        djsj,
        coalesce(zxbs, '0')                     as zxbs,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
),

final as (
    select r.*, lx.name as dwlxmc
    from renamed r
    left join {{ ref('stg_meta__code_table') }} lx on lx.dict = 'DWLX' and lx.code = r.dwlxdm
)

select * from final
