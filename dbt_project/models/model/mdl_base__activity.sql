{{ config(materialized='table', unlogged=true, post_hook=[
    "create index if not exists {{ this.identifier }}__gmsfhm on {{ this }} (gmsfhm, day_to)",
    "analyze {{ this }}"]) }}
-- Track activity up to D, once per run for all rule models (each used to re-clean the access
-- records on its own): smart-community access records (CRSJ), home visits naming the person
-- (the visit's ZFSJ), residence tracks ([KSRQ, JSRQ], an open JSRQ running to D) and case rows
-- (FASJ), with the address each places the person at and the table and key evidence names.
-- Unlogged: rebuilt by every run from the ODS state, it needs no WAL (the 1M-person city writes
-- 5.2M rows here: 35.7 s logged, 31.1 s unlogged).
with communities as (
    select distinct on (xqbm) {{ normalize_dzbm('xqbm') }} as xqbm, {{ normalize_dzbm('dzbm') }} as dzbm
    from {{ source('ods', 'zhxq_zhxqjcxx') }}
    where not _deleted
    order by xqbm
),

access_records as (
    -- cleaned and dated once per record: "offset 0" keeps the planner from pulling this up into
    -- the union, where the day would be computed twice and the cleaned ID number once for the
    -- filter and again for the row (the 5.1M records of the 1M-person city, on one core:
    -- 35-36 s pulled up, 22-29 s so)
    select gmsfhm, jlbh, {{ mdl_day('crsj') }} as day, xqbm, crsj, crfxdm
    from {{ ref('stg_ods__zhxq_zhxqryjcjlxx') }}
    where crsj < ({{ mdl_as_of() }} + 1)::timestamp at time zone 'Asia/Shanghai'
    offset 0
),

access as (
    select j.gmsfhm, 'ZHXQ_ZHXQRYJCJLXX'::text as tbl, j.jlbh as key, j.day as day_from, j.day as day_to, q.dzbm,
           j.xqbm, j.crsj, j.crfxdm
    from access_records j
    left join communities q on q.xqbm = j.xqbm
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
