-- Declarative sources (spec/source-config.md): one row of status per source, the records a run
-- rejected, the files already read, and the schema of the analysts' masked views of raw_src.
-- The raw_src.<id> tables themselves are made by the first run of each source (its fields are
-- in its YAML file, not here).

create table if not exists meta.source_status (
    -- the columns the operations console reads first, in its order (its fixtures insert by position)
    source          text primary key,
    name            text,
    category        text,
    owner           text,
    kind            text,
    enabled         bool,
    last_run_at     timestamptz,
    last_success_at timestamptz,
    rows_read       bigint,
    rows_loaded     bigint,
    rows_rejected   bigint,
    last_error      text,
    duration_s      double precision,
    schedule        text,
    config_file     text,
    last_run_id     text,
    rows_changed    bigint,   -- new or changed rows the last successful run wrote
    rows_deleted    bigint,   -- keys the last full sync marked deleted
    cursor_value    jsonb,    -- {"type", "value"}: the highest cursor read, null before the first run or after reset
    fuse_entity     text,     -- person | address: the 一标三实 entity the source enriches (dbt's fusion models read these)
    fuse_key        text,     -- its column holding the entity's key (gmsfhm / dzbm)
    fuse_priority   int       -- lower wins; the province's data is 1 (dbt var fuse_province_priority)
);
comment on table meta.source_status is '汇聚数据源状态：每个数据源一行（名称、分类、提供单位、类型、启用、最近运行与成功时间、读取/入库/拒收行数、最近错误、耗时、增量游标）';

create table if not exists meta.source_reject (
    source      text not null,
    position    text,
    field       text,
    reason      text not null,
    record      jsonb,
    run_id      text not null,
    rejected_at timestamptz not null default now(),
    reject_id   bigint generated always as identity primary key
);
create index if not exists source_reject__source on meta.source_reject (source, rejected_at);
comment on table meta.source_reject is '汇聚数据源拒收记录：每条不合规则的源记录一行（数据源、位置、字段、原因、原始记录、运行号）';

create table if not exists meta.source_file (
    source   text not null,
    path     text not null,
    sha256   text not null,
    bytes    bigint,
    rows     bigint,
    run_id   text not null,
    read_at  timestamptz not null default now(),
    primary key (source, path, sha256)
);
comment on table meta.source_file is '文件型数据源已读文件：每个已读取的文件（路径与SHA-256）一行，同一文件不重复读取';

create schema if not exists masked_raw_src;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'dz_operator')
       and exists (select 1 from pg_roles where rolname = 'dz_engineer')
       and exists (select 1 from pg_roles where rolname = 'dz_analyst') then
        grant select on meta.source_status, meta.source_file to dz_operator;
        -- the raw record is personal data: operators read where and why, never the record
        grant select (reject_id, source, position, field, reason, run_id, rejected_at)
            on meta.source_reject to dz_operator;
        grant all on meta.source_status, meta.source_reject, meta.source_file to dz_engineer;
        grant usage on schema masked_raw_src to dz_analyst, dz_engineer;
    end if;
end $$;
