-- Names of divisions (GB/T 2260) and police stations (GAJG) for the ODS lookup.
select dict, code, name from meta.code_table where dict in ('GB/T 2260', 'GAJG')
