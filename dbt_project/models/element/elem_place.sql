{{ config(
    materialized='incremental',
    unique_key='dzbm',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['dzbm'], 'unique': true}, {'columns': ['_built_at']}, {'columns': ['_changed_at']}],
    pre_hook="{{ elem_place_changes_pre() }}",
) }}
{#- Incremental (macros/incremental/elem_place_changes.sql): a daily run replaces the addresses core_address
    recomputed, those a recomputed person left or came to (core_person's place log), and those
    whose houses, units, disputes or cases changed. -#}
-- change detection also reads (macros/incremental/elem_place_changes.sql):
-- depends_on: {{ ref('core_address') }}, {{ ref('core_person') }}, {{ ref('core_house') }}, {{ ref('core_unit') }}

-- 地要素: one row per standard address (core_address) with what is found there: residents,
-- hukou registrations, houses, units, disputes and cases. _changed_at = newest load among the
-- address and the rows counted (so an anomaly rule re-checks the place when any of them moves).
with addresses as (
    select * from {{ ref('core_address') }} where {{ dz_keys_filter('dzbm') }}
),

residents as (
    select jz_dzbm as dzbm, count(*) as resident_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_person') }} where is_actual and jz_dzbm is not null and {{ dz_keys_filter('jz_dzbm') }}
    group by 1
),

hukou as (
    select hj_dzbm as dzbm, count(*) as hukou_count, max(_loaded_at) as _loaded_at
    from {{ ref('core_person') }} where is_hukou and ryztdm = '1' and hj_dzbm is not null and {{ dz_keys_filter('hj_dzbm') }}
    group by 1
),

small as (
    {{ elem_place_small_facts((this.identifier ~ '__changed') if is_incremental() else none) | indent(4) }}
),

final as (
    select
        a.dzbm,
        a.dzmc,
        a.dzjbdm,
        a.ml_dzbm,
        a.jlx_dzbm,
        a.xzqhdm,
        a.xzjddm,
        a.gajgjgdm,
        a.is_active,
        a.parent_missing,
        a.zbx,
        a.zby,
        coalesce(r.resident_count, 0)   as resident_count,
        coalesce(h.hukou_count, 0)      as hukou_count,
        coalesce(f.house_count, 0)      as house_count,
        coalesce(f.unit_count, 0)       as unit_count,
        coalesce(f.dispute_count, 0)    as dispute_count,
        coalesce(f.case_count, 0)       as case_count,
        a._batch_id, a._file, a._line, a._msg_id, a._seq, a._loaded_at,
        greatest(a._loaded_at, r._loaded_at, h._loaded_at, f._loaded_at) as _changed_at,
        now()                           as _built_at
    from addresses a
    left join residents r on r.dzbm = a.dzbm
    left join hukou h on h.dzbm = a.dzbm
    left join small f on f.dzbm = a.dzbm
)

select * from final
