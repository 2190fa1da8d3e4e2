-- Addresses by code (a batch: %(codes)s is a text[]) from the standard-address ODS tables
-- (门楼 and 层户), until dbt builds serve.address_registry. Division and police-station names
-- from meta.code_table, when known. A code in both tables: the 门楼 row wins.
with found as (
    select 1 as src, dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm
      from ods.ybss_bzdzmlxx where dzbm = any(%(codes)s) and not _deleted
    union all
    select 2 as src, dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm
      from ods.ybss_bzdzchxx where dzbm = any(%(codes)s) and not _deleted
)
select distinct on (f.dzbm)
       f.dzbm, f.dzmc, left(f.xzqhdm, 6) as xzqh, d.name as xzqhmc, f.gajgjgdm as gajg, g.name as gajgmc,
       f.dzztdm as status
  from found f
  left join meta.code_table d on d.dict = 'GB/T 2260' and d.code = left(f.xzqhdm, 6)
  left join meta.code_table g on g.dict = 'GAJG' and g.code = f.gajgjgdm
 order by f.dzbm, f.src
