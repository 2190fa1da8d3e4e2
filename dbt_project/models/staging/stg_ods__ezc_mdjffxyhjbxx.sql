with source as (
    select * from {{ source('ods', 'ezc_mdjffxyhjbxx') }} where not _deleted
),

renamed as (
    select
        trim(jfbh)                              as jfbh,
        jflxdm,
        fssj,
        {{ normalize_dzbm('dzbm') }}            as dzbm,
        coalesce(sjqbs, '0')                    as sjqbs,
        nullif(trim(jqbh), '')                  as jqbh,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
),

final as (
    select r.*, lx.name as jflxmc
    from renamed r
    left join {{ ref('stg_meta__code_table') }} lx on lx.dict = 'JFLX' and lx.code = r.jflxdm
)

select * from final
