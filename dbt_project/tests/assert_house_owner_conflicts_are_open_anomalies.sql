{{ config(meta={"dagster": {"ref": {"name": "elem_anomaly"}}}) }}

-- Every address with several owners (comparison table) has its houses flagged by rule FW01.
select c.dzbm, h.fwbh
from {{ ref('core_cmp__house_owners') }} c
join {{ ref('core_house') }} h on h.dzbm = c.dzbm and h.is_active
where not exists (
    select 1 from {{ ref('elem_anomaly') }} a
    where a.anomaly_id = 'FW01:' || h.fwbh and a.is_open
)
