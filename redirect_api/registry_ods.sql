-- Addresses by code (a batch: %(codes)s is a text[]) from the standard-address ODS tables
-- (门楼 and 层户), until dbt builds serve.address_registry. A code in both: the 门楼 row wins.
-- Division and police-station names are added in Python from registry_names (a few hundred
-- codes, cached): two code-table probes per row here cost more than the address probe itself.
select distinct on (dzbm) dzbm, dzmc, xzqh, null::text as xzqhmc, gajg, null::text as gajgmc, status
  from (
        select 1 as src, dzbm, dzmc, left(xzqhdm, 6) as xzqh, gajgjgdm as gajg, dzztdm as status
          from ods.ybss_bzdzmlxx where dzbm = any(%(codes)s) and not _deleted
        union all
        select 2 as src, dzbm, dzmc, left(xzqhdm, 6) as xzqh, gajgjgdm as gajg, dzztdm as status
          from ods.ybss_bzdzchxx where dzbm = any(%(codes)s) and not _deleted
       ) found
 order by dzbm, src
