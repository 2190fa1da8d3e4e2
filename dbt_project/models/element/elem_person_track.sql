{{ config(
    materialized='incremental',
    unique_key='trk_id',
    incremental_strategy='dz_append_new',
    dz_replaced_key='gmsfhm',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['trk_id'], 'unique': true}, {'columns': ['gmsfhm', 'trk_time']}, {'columns': ['_loaded_at']},
             {'columns': ['_built_at']}],
    pre_hook=["{{ dz_ods_loaded_at_index(source('ods', 'zhxq_zhxqryjcjlxx')) }}", "{{ dz_replaced_log_hook('pre') }}"],
    post_hook="{{ dz_replaced_log_hook('post') }}",
) }}
-- the pre-hook indexes (macros/incremental/incremental.sql):
-- depends_on: {{ source('ods', 'zhxq_zhxqryjcjlxx') }}

-- 人员轨迹: one row per sighting of a person (smart-community gate record, e治采 household
-- visit). Incremental: a daily run reads only the rows loaded since this table's newest load
-- time of the same source (gate records grow ~4 per community resident per day, millions a
-- month at Dazhou's size), found through an index on the ODS table's _loaded_at (pre-hook), and
-- appends them (macros/incremental/append_new.sql: a re-delivered record replaces its row). ODS rows
-- deleted later are not withdrawn here; a full refresh does. _built_at stamps the build that
-- wrote a row: elem_person adds the tracks built since its own row, and the data tests judge
-- the last build's rows (macros/overrides/test_scope.sql).
with gates as (
    select * from {{ ref('stg_ods__zhxq_zhxqryjcjlxx') }}
    where gmsfhm is not null
    {% if is_incremental() %}
      and _loaded_at > {{ dz_newest_load(this, "trk_source = 'ZHXQ_ZHXQRYJCJLXX'") }}
    {% endif %}
),

visits as (
    select p.zfrybh, p.gmsfhm, p.rysfdm, v.zfsj, v.dzbm,
           p._batch_id, p._file, p._line, p._msg_id, p._seq, greatest(p._loaded_at, v._loaded_at) as _loaded_at
    from {{ ref('stg_ods__ezc_rhzfryxx') }} p
    join {{ ref('stg_ods__ezc_rhzfjbxx') }} v on v.zfbh = p.zfbh
    where p.gmsfhm is not null
    {% if is_incremental() %}
      and greatest(p._loaded_at, v._loaded_at) > (select coalesce(max(_loaded_at), '-infinity') from {{ this }} where trk_source = 'EZC_RHZFRYXX')
    {% endif %}
),

final as (
    select
        'ZHXQ:' || jlbh               as trk_id,
        'ZHXQ_ZHXQRYJCJLXX'           as trk_source,
        gmsfhm,
        crsj                          as trk_time,
        xqbm                          as place_code,
        'community'                   as place_type,
        crfxdm                        as detail_code,
        {{ lineage_columns() }},
        now()                         as _built_at
    from gates
    union all
    select
        'EZC:' || zfrybh,
        'EZC_RHZFRYXX',
        gmsfhm,
        zfsj,
        dzbm,
        'address',
        rysfdm,
        {{ lineage_columns() }},
        now()
    from visits
)

select * from final
