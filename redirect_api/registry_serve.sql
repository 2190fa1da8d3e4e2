-- One address by code from the served address registry (built by the address pipeline).
select dzbm, dzmc, xzqh, xzqhmc, gajg, gajgmc, status
  from serve.address_registry
 where dzbm = %(dzbm)s
 limit 1
