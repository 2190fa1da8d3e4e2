-- 实有单位 indicators: one row per county and police station of the unit's registered address.
with units as (
    select * from {{ ref('core_unit') }}
),

counted as (
    select
        xzqhdm,
        gajgjgdm,
        count(*) filter (where is_active)                           as unit_total,
        count(*) filter (where is_active and dwlxdm = '3')          as enterprise_count,
        count(*) filter (where is_active and dwlxdm = '4')          as individual_business_count,
        coalesce(sum(cyrys) filter (where is_active), 0)            as employee_total,
        count(*) filter (where is_active and tyshxydm is null)      as no_credit_code_count,
        count(*) filter (where is_active and {{ idcard_issue('fddbrgmsfhm') }} is not null) as invalid_legal_rep_id_count,
        count(*) filter (where is_active and not zc_dz_linked)      as unlinked_address_count,
        count(*) filter (where not is_active)                       as cancelled_count,
        {{ watermark_columns() }}
    from units
    group by 1, 2
),

final as (
    {{ with_jurisdiction_names('counted') }}
)

select * from final
