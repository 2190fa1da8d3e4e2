with source as (
    select * from {{ source('ods', 'ybss_bzdzmlxx') }}
),

renamed as (
    select
        {{ standard_address_columns() }},
        {{ normalize_dzbm('sjdzbm') }} as sjdzbm,
        mlph,
        zbx,
        zby,
        djsj,
        gxsj,
        _deleted,
        _deleted_at,
        {{ lineage_columns() }}
    from source
)

select * from renamed
