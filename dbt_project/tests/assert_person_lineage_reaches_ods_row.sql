{{ config(meta={"dagster": {"ref": {"name": "core_person"}}}) }}

-- Lineage to the row: every person's (batch, file, line) or (msg_id, seq) names the ODS row
-- it came from (the hukou row when there is one, else the actual-population row). Judged on
-- the rows core_person's last build wrote (all of them after a full build; a daily run's
-- recomputed persons), as the generic tests are (macros/overrides/test_scope.sql).
select p.gmsfhm, p._batch_id, p._file, p._line, p._msg_id, p._seq
from {{ ref('core_person') }} p
where p._built_at >= {{ dz_newest_load(ref('core_person'), column='_built_at') }}
and not exists (
    select 1 from {{ source('ods', 'hz_hjrkjbxx') }} h
    where p.rybh is not null and h.rybh = p.rybh
      and h._batch_id is not distinct from p._batch_id
      and h._line is not distinct from p._line
      and h._seq is not distinct from p._seq
)
and not exists (
    select 1 from {{ source('ods', 'ybss_syrkxx') }} s
    where p.rybh is null and s.syrkbh = p.syrkbh
      and s._batch_id is not distinct from p._batch_id
      and s._line is not distinct from p._line
      and s._seq is not distinct from p._seq
)
