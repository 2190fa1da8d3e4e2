{{ config(alias="address_registry") }}

-- The address registry the e-code redirect API serves: every coded standard address (门楼 and
-- 层户), current and not deleted, with division and police-station names.
with addresses as (
    select dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm from {{ ref('stg_ods__ybss_bzdzmlxx') }} where not _deleted
    union all
    select dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm from {{ ref('stg_ods__ybss_bzdzchxx') }} where not _deleted
),

codes as (
    select dict, code, name from {{ ref('stg_meta__code_table') }}
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
    left join codes xz on xz.dict = 'GB/T 2260' and xz.code = a.xzqhdm
    left join codes ga on ga.dict = 'GAJG' and ga.code = a.gajgjgdm
)

select * from final
