{{ config(alias="address_registry") }}

-- The address registry the e-code redirect API serves (spec/ecode-redirect.md): every coded
-- standard address, 门楼 and 层户, current and not deleted, with division and police-station
-- names. One definition: until dbt has built this view, the redirect API runs this same file
-- over the ODS tables (redirect_api/sql.py renders its source() calls), so both answer alike.
-- It reads the sources, not staging: the contract serves codes exactly as delivered, and
-- staging normalises codes (upper case, no blanks) for linking.
with source as (
    select 1 as level, dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm
    from {{ source('ods', 'ybss_bzdzmlxx') }} where not _deleted
    union all
    select 2 as level, dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm
    from {{ source('ods', 'ybss_bzdzchxx') }} where not _deleted
),

addresses as (
    -- one row per code; a code delivered both as a 门楼 and as a 层户 is served as its 门楼
    select distinct on (dzbm) dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm
    from source
    order by dzbm, level
),

final as (
    select
        a.dzbm::text                      as dzbm,
        a.dzmc::text                      as dzmc,
        a.xzqhdm::text                    as xzqh,
        xz.name::text                     as xzqhmc,
        a.gajgjgdm::text                  as gajg,
        ga.name::text                     as gajgmc,
        a.dzztdm::text                    as status,
        coalesce(a.xzqhdm like '5117%', false) as in_dazhou
    from addresses a
    left join {{ source('meta', 'code_table') }} xz on xz.dict = 'GB/T 2260' and xz.code = a.xzqhdm
    left join {{ source('meta', 'code_table') }} ga on ga.dict = 'GAJG' and ga.code = a.gajgjgdm
)

select * from final
