with source as (
    select * from {{ source('ods', 'ybss_bzdzchxx') }}
),

renamed as (
    select
        {{ standard_address_columns() }},
        {{ normalize_dzbm('sjdzbm') }} as sjdzbm,
        lc,
        sh,
        djsj,
        gxsj,
        _deleted,
        _deleted_at,
        {{ lineage_columns() }}
    from source
)

select * from renamed
