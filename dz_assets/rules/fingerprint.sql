-- name: table_state
-- Per table the layer reads: file node and size, the cumulative row counters, the change
-- stream's state (a missing table gives nulls: its absence is state too).
select w.s, w.t, c.relfilenode, pg_relation_size(c.oid),
       st.n_tup_ins, st.n_tup_upd, st.n_tup_del, to_jsonb(cs)
from unnest(%(schemas)s::text[], %(tables)s::text[]) w (s, t)
left join pg_namespace n on n.nspname = w.s
left join pg_class c on c.relnamespace = n.oid and c.relname = w.t
left join pg_stat_user_tables st on st.relid = c.oid
left join meta.cdc_table_state cs on cs.table_code = upper(w.t) and w.s = 'ods'
order by 1, 2

-- name: batches
select max(delivery_id), count(*), max(finished_at) from meta.batch

-- name: recorded
-- the run record and the findings exist, and the record has its fingerprint column
select to_regclass('model.mdl_findings') is not null
   and exists (select 1 from information_schema.columns where table_schema = 'model'
               and table_name = 'mdl_rule_runs' and column_name = 'inputs_fingerprint')

-- name: base_built
select to_regclass('model.mdl_base__addresses') is not null

-- name: base_filled
select exists (select 1 from model.mdl_base__addresses)

-- name: last_run
select as_of, inputs_fingerprint from model.mdl_rule_runs order by evaluated_at desc, as_of desc limit 1
