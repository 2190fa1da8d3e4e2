-- Retention of warehouse records (the records kind of dzhub purge) counts rows, not files.
alter table meta.purge_run add column if not exists rows bigint not null default 0;
comment on column meta.purge_run.rows is '库内记录清理删除的行数（records 类）';
