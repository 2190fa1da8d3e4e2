with source as (
    select * from {{ source('ods', 'ybss_bzdzjlxxx') }}
),

renamed as (
    select
        {{ standard_address_columns() }},
        djsj,
        gxsj,
        _deleted,
        _deleted_at,
        {{ lineage_columns() }}
    from source
)

select * from renamed
