{{ config(materialized='table', post_hook=[
    "create index if not exists {{ this.identifier }}__gmsfhm on {{ this }} (gmsfhm, day_to)",
    "analyze {{ this }}"]) }}
-- Track activity up to D, once per run for all rule models (each used to re-clean the access
-- records on its own): smart-community access records (CRSJ), home visits naming the person
-- (the visit's ZFSJ), residence tracks ([KSRQ, JSRQ], an open JSRQ running to D) and case rows
-- (FASJ), with the address each places the person at and the table and key evidence names.
with communities as (
    select distinct on (xqbm) {{ normalize_dzbm('xqbm') }} as xqbm, {{ normalize_dzbm('dzbm') }} as dzbm
    from {{ source('ods', 'zhxq_zhxqjcxx') }}
    where not _deleted
    order by xqbm
),

access as (
    select j.gmsfhm, 'ZHXQ_ZHXQRYJCJLXX'::text as tbl, j.jlbh as key,
           {{ mdl_day('j.crsj') }} as day_from, {{ mdl_day('j.crsj') }} as day_to, q.dzbm,
           j.xqbm, j.crsj, j.crfxdm
    from {{ ref('stg_ods__zhxq_zhxqryjcjlxx') }} j
    left join communities q on q.xqbm = j.xqbm
    where j.crsj < ({{ mdl_as_of() }} + 1)::timestamp at time zone 'Asia/Shanghai'
),

visits as (
    select r.gmsfhm, 'EZC_RHZFRYXX', r.zfrybh, {{ mdl_day('v.zfsj') }}, {{ mdl_day('v.zfsj') }}, v.dzbm,
           null::text, v.zfsj, null::text
    from {{ ref('stg_ods__ezc_rhzfryxx') }} r
    join {{ ref('stg_ods__ezc_rhzfjbxx') }} v on v.zfbh = r.zfbh
    where {{ mdl_day('v.zfsj') }} <= {{ mdl_as_of() }}
),

tracks as (
    select {{ normalize_idcard('gmsfhm') }}, 'ZDR_TDDXRYJZGJXX', trim(gjbh), ksrq,
           least(coalesce(jsrq, {{ mdl_as_of() }}), {{ mdl_as_of() }}), {{ normalize_dzbm('dzbm') }},
           null::text, null::timestamptz, null::text
    from {{ source('ods', 'zdr_tddxryjzgjxx') }}
    where not _deleted and (ksrq is null or ksrq <= {{ mdl_as_of() }})
),

cases as (
    select sarygmsfhm, 'YBSS_AJXX', ajbh, {{ mdl_day('fasj') }}, {{ mdl_day('fasj') }}, fadz_dzbm,
           null::text, fasj, null::text
    from {{ ref('stg_ods__ybss_ajxx') }}
    where {{ mdl_day('fasj') }} <= {{ mdl_as_of() }}
),

final as (
    select * from access
    union all select * from visits
    union all select * from tracks
    union all select * from cases
)

select * from final where gmsfhm is not null
