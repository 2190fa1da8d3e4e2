{{ config(meta={"dagster": {"ref": {"name": "topic_syrk__by_division"}}}) }}

-- Indicator tables add up to the entities they count (no person lost or counted twice by the
-- division/station grouping).
with totals as (
    select 'syrk' as topic,
           (select coalesce(sum(actual_total), 0) from {{ ref('topic_syrk__by_division') }}) as counted,
           (select count(*) from {{ ref('core_person') }} where is_actual) as expected
    union all
    select 'hjgl',
           (select coalesce(sum(hukou_total), 0) from {{ ref('topic_hjgl__by_division') }}),
           (select count(*) from {{ ref('topic_hjgl__person') }})
    union all
    select 'mdjf',
           (select coalesce(sum(dispute_total), 0) from {{ ref('topic_mdjf__by_division') }}),
           (select count(*) from {{ ref('topic_mdjf__dispute') }})
)

select * from totals where counted <> expected
