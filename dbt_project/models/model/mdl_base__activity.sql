{%- set sources = [
    {'tbl': 'ZHXQ_ZHXQRYJCJLXX', 'relations': [source('ods', 'zhxq_zhxqryjcjlxx')], 'pk': 'jlbh'},
    {'tbl': 'EZC_RHZFRYXX', 'relations': [source('ods', 'ezc_rhzfryxx'), source('ods', 'ezc_rhzfjbxx')]},
    {'tbl': 'ZDR_TDDXRYJZGJXX', 'relations': [source('ods', 'zdr_tddxryjzgjxx')]},
    {'tbl': 'YBSS_AJXX', 'relations': [source('ods', 'ybss_ajxx')]},
] -%}
{%- set plan = mdl_base_plan(full_on=[source('ods', 'zhxq_zhxqjcxx')]) -%}
{{ config(materialized='incremental', incremental_strategy='append', unlogged=true, on_schema_change='sync_all_columns',
          pre_hook="{{ mdl_base_prepared() }}",
          post_hook="{{ mdl_base_finish([['gmsfhm']]) }}") }}
{{ mdl_base_header(plan, sources) }}
-- Track activity, once for all rule models and kept by increments (macros/model/base.sql): every
-- smart-community access record (CRSJ), home visit naming the person (the visit's ZFSJ),
-- residence track ([KSRQ, JSRQ], JSRQ null while open) and case row (FASJ), with the address each
-- places the person at and the table and key evidence names. The rules read it through
-- mdl_track_activity and mdl_access, which keep what is dated on or before D (an open track runs
-- to D); rows without their date are left out here, as they are for every D. A daily run cleans
-- only the access records loaded since the last build; the other sources are small and are
-- built again whole when one of their rows changed. Each source is cleaned as its staging view
-- (models/staging/stg_ods__*) cleans it, here from the ODS table so the key as written (_pk)
-- finds the rows of a changed record. Unlogged: the server's crash recovery empties it, and the
-- next run then builds it whole.
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
    select jlbh as _pk, trim(jlbh) as jlbh, {{ normalize_dzbm('xqbm') }} as xqbm,
           {{ normalize_idcard('gmsfhm') }} as gmsfhm, crsj, crfxdm, {{ mdl_day('crsj') }} as day
    from {{ source('ods', 'zhxq_zhxqryjcjlxx') }}
    where not _deleted and crsj is not null and {{ mdl_base_changed(plan, sources[0]) }}
    offset 0
),

access as (
    select j.gmsfhm, 'ZHXQ_ZHXQRYJCJLXX'::text as tbl, j.jlbh as key, j.day as day_from, j.day as day_to, q.dzbm,
           j.xqbm, j.crsj, j.crfxdm, j._pk
    from access_records j
    left join communities q on q.xqbm = j.xqbm
),

visits as (
    select r.gmsfhm, 'EZC_RHZFRYXX', r.zfrybh, {{ mdl_day('v.zfsj') }}, {{ mdl_day('v.zfsj') }}, v.dzbm,
           null::text, v.zfsj, null::text, null::text
    from {{ ref('stg_ods__ezc_rhzfryxx') }} r
    join {{ ref('stg_ods__ezc_rhzfjbxx') }} v on v.zfbh = r.zfbh
    where v.zfsj is not null and {{ mdl_base_changed(plan, sources[1]) }}
),

tracks as (
    select {{ normalize_idcard('gmsfhm') }}, 'ZDR_TDDXRYJZGJXX', trim(gjbh), ksrq, jsrq, {{ normalize_dzbm('dzbm') }},
           null::text, null::timestamptz, null::text, null::text
    from {{ source('ods', 'zdr_tddxryjzgjxx') }}
    where not _deleted and {{ mdl_base_changed(plan, sources[2]) }}
),

cases as (
    select sarygmsfhm, 'YBSS_AJXX', ajbh, {{ mdl_day('fasj') }}, {{ mdl_day('fasj') }}, fadz_dzbm,
           null::text, fasj, null::text, null::text
    from {{ ref('stg_ods__ybss_ajxx') }}
    where fasj is not null and {{ mdl_base_changed(plan, sources[3]) }}
),

final as (
    select * from access
    union all select * from visits
    union all select * from tracks
    union all select * from cases
)

select * from final where gmsfhm is not null
