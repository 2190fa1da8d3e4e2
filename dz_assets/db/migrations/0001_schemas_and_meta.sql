-- Schemas of the flow and the meta tables every stage shares.
create schema if not exists meta;
create schema if not exists raw;      -- change logs of incremental channels
create schema if not exists raw_src;  -- landing of other sources (database tables, APIs, files)
create schema if not exists ods;      -- typed current state, one row per key
create schema if not exists staging;
create schema if not exists core;
create schema if not exists topic;
create schema if not exists element;
create schema if not exists model;
create schema if not exists serve;

-- The catalogue, mirrored from dz_assets/catalog/data so analysts and dbt can join on it.
create table if not exists meta.catalogue_table (
    table_code  text primary key,
    table_name  text not null,
    domain_code text not null,
    domain      text not null,
    seq         int  not null,
    pk          text[] not null,
    detail      text not null
);
comment on table meta.catalogue_table is '省级数据目录：每张省级下发表一行（表代码、名称、业务域、主键）';

create table if not exists meta.catalogue_field (
    table_code text not null references meta.catalogue_table (table_code) on delete cascade,
    ordinal    int  not null,
    field_code text not null,
    field_name text not null,
    type       text not null,
    length     int,
    required   boolean not null,
    key        int,
    dict       text,
    primary key (table_code, field_code)
);
comment on table meta.catalogue_field is '省级数据目录字段：每个字段一行（公安数据元代码、名称、类型、长度、必填、主键序号、代码表）';

create table if not exists meta.code_table (
    dict   text not null,
    code   text not null,
    name   text not null,
    parent text,
    primary key (dict, code)
);
comment on table meta.code_table is '代码表：每个代码值一行（性别、民族、行政区划、派出所等）';

create table if not exists meta.catalogue_sync (
    id          int primary key default 1 check (id = 1),
    digest      text not null,
    synced_at   timestamptz not null default now()
);

-- Alerts from every stage; also posted to DZ_ALERT_WEBHOOK when configured.
create table if not exists meta.alert (
    alert_id   bigserial primary key,
    raised_at  timestamptz not null default now(),
    severity   text not null check (severity in ('info', 'warning', 'error', 'critical')),
    source     text not null,           -- the stage: province, cdc, sources, ecode, ops …
    code       text not null,           -- machine-readable reason, e.g. marker_mismatch
    subject    text,                    -- batch id, table, queue …
    message    text not null,
    details    jsonb not null default '{}'::jsonb,
    delivered  boolean not null default false
);
create index if not exists alert_raised_at on meta.alert (raised_at);
comment on table meta.alert is '告警：每条告警一行（级别、环节、原因、对象、说明）';
