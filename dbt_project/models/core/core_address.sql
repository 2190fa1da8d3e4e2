{#- Address codes are normalised expressions PostgreSQL has no statistics for: it guesses the
    parent joins at ~1e10 rows and picks merge joins that sort the whole union; hash joins of
    the ~0.5M rows (1M persons) fit work_mem.
    Incremental by changed address code (macros/incremental/incremental.sql, macros/incremental/core_address_changes.sql):
    a daily run recomputes the codes whose standard-address rows were loaded or changed since
    the last build and the codes below them; their parents come from the fresh rows where they
    changed too, else from this table (raw police station = the stored one unless inherited). -#}
{{ config(
    materialized='incremental',
    unique_key='dzbm',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['dzbm'], 'unique': true}, {'columns': ['dzmc_norm']}, {'columns': ['sjdzbm']},
             {'columns': ['jlx_dzbm']}, {'columns': ['_built_at']}],
    pre_hook=["set local enable_mergejoin = off", "{{ dz_changes_pre('dzbm', core_address_changed_codes()) }}"],
    post_hook="{{ dz_changes_post('dzbm') }}",
) }}
-- change detection also reads (macros/incremental/core_address_changes.sql):
-- depends_on: {{ source('ods', 'ybss_bzdzjlxxx') }}, {{ source('ods', 'ybss_bzdzmlxx') }}, {{ source('ods', 'ybss_bzdzchxx') }}

-- The standard address hierarchy 街路巷 (level 1) → 门楼 (2) → 层户 (3): one row per address
-- code in force (not deleted), with its parents, division, town and police jurisdiction. A
-- 门楼/层户 without its own police station inherits its parent's (the province leaves ~1 in 50
-- 层户 without one; the station answers for the whole building).
with jlx as not materialized (
    select *, '1' as dzjbdm, null::text as sjdzbm, null::text as mlph, null::int as lc, null::text as sh,
           null::numeric as zbx, null::numeric as zby
    from {{ ref('stg_ods__ybss_bzdzjlxxx') }} where not _deleted
      and {{ dz_keys_filter('dzbm') }}
),

ml as not materialized (
    select *, '2' as dzjbdm, null::int as lc, null::text as sh
    from {{ ref('stg_ods__ybss_bzdzmlxx') }} where not _deleted
      and {{ dz_keys_filter('dzbm') }}
),

ch as not materialized (
    select *, '3' as dzjbdm, null::text as mlph, null::numeric as zbx, null::numeric as zby
    from {{ ref('stg_ods__ybss_bzdzchxx') }} where not _deleted
      and {{ dz_keys_filter('dzbm') }}
),

unioned as (
    {% set cols = "dzbm, dzmc, dzmc_norm, dzjbdm, sjdzbm, xzqhdm, gajgjgdm, dzztdm, mlph, lc, sh, zbx, zby, djsj, gxsj, _batch_id, _file, _line, _msg_id, _seq, _loaded_at" %}
    select {{ cols }} from jlx
    union all
    select {{ cols }} from ml
    union all
    select {{ cols }} from ch
),

-- parents looked up in a narrow projection of the same rows, inlined (not materialised) so the
-- planner sees the tables' statistics: joined to the materialised union itself, PostgreSQL
-- estimated 1e10 rows and sorted the whole union to disk three times. A daily run takes the
-- parents and grandparents of the changed rows from the fresh rows, else from this table.
{%- if is_incremental() %}
needed as (
    select sjdzbm as dzbm from unioned where sjdzbm is not null
    union
    select t.sjdzbm from {{ this }} t where t.dzbm in (select sjdzbm from unioned) and t.sjdzbm is not null
),

parents as (
    select dzbm, sjdzbm, gajgjgdm from unioned
    union all
    select t.dzbm, t.sjdzbm, case when t.gajg_inherited then null else t.gajgjgdm end
    from {{ this }} t
    where t.dzbm in (select dzbm from needed)
      and t.dzbm not in (select key from {{ this.identifier }}__changed)
),
{%- else %}
parents as not materialized (
    select dzbm, sjdzbm, gajgjgdm from jlx
    union all
    select dzbm, sjdzbm, gajgjgdm from ml
    union all
    select dzbm, sjdzbm, gajgjgdm from ch
),
{%- endif %}

linked as (
    select
        u.*,
        case u.dzjbdm when '1' then u.dzbm when '2' then u.sjdzbm else p.sjdzbm end as jlx_dzbm,
        case u.dzjbdm when '2' then u.dzbm when '3' then u.sjdzbm end               as ml_dzbm,
        (u.dzjbdm <> '1' and p.dzbm is null)                                        as parent_missing,
        coalesce(u.gajgjgdm, p.gajgjgdm, gp.gajgjgdm)                              as gajgjgdm_resolved
    from unioned u
    left join parents p on p.dzbm = u.sjdzbm and u.dzjbdm <> '1'
    left join parents gp on gp.dzbm = p.sjdzbm and u.dzjbdm = '3'
),

final as (
    select
        l.dzbm,
        l.dzmc,
        l.dzmc_norm,
        l.dzjbdm,
        jb.name                                   as dzjbmc,
        l.jlx_dzbm,
        l.ml_dzbm,
        l.sjdzbm,
        l.parent_missing,
        l.mlph,
        l.lc,
        l.sh,
        l.xzqhdm,
        xz.name                                   as xzqhmc,
        jd.code                                   as xzjddm,
        jd.name                                   as xzjdmc,
        l.gajgjgdm_resolved                       as gajgjgdm,
        ga.name                                   as gajgmc,
        (l.gajgjgdm is null and l.gajgjgdm_resolved is not null) as gajg_inherited,
        l.dzztdm,
        zt.name                                   as dzztmc,
        (l.dzztdm = '1')                          as is_active,
        coalesce(l.xzqhdm like '5117%', false)    as in_dazhou,
        l.zbx,
        l.zby,
        l.djsj,
        l.gxsj,
        {{ lineage_columns('l') }},
        now()                                     as _built_at
    from linked l
    left join {{ ref('stg_meta__code_table') }} jb on jb.dict = 'DZJB' and jb.code = l.dzjbdm
    left join {{ ref('stg_meta__code_table') }} xz on xz.dict = 'GB/T 2260' and xz.code = l.xzqhdm
    left join {{ ref('stg_meta__code_table') }} jd on jd.dict = 'XZJD' and jd.code = left(l.dzbm, 9)
    left join {{ ref('stg_meta__code_table') }} ga on ga.dict = 'GAJG' and ga.code = l.gajgjgdm_resolved
    left join {{ ref('stg_meta__code_table') }} zt on zt.dict = 'DZZT' and zt.code = l.dzztdm
)

select * from final
