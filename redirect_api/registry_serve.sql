-- Addresses by code (a batch: %(codes)s is a text[]) from the served address registry.
select distinct on (dzbm) dzbm, dzmc, xzqh, xzqhmc, gajg, gajgmc, status
  from serve.address_registry
 where dzbm = any(%(codes)s)
 order by dzbm
