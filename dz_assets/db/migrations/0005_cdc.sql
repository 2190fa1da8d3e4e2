-- Incremental sync (change messages and INCR packages), reconciliation (issue 5;
-- change-messages.md, package-format.md "What a batch does to a table" and "RECON packages").
-- The change logs raw.<table>__changes are created on demand from the catalogue (dz_assets/cdc/changelog.py).

-- Messages that cannot be applied, kept whole with their reason (then dead-lettered).
create table if not exists meta.cdc_poison (
    poison_id   bigserial primary key,
    received_at timestamptz not null default now(),
    queue       text,
    exchange    text,
    routing_key text,
    headers     jsonb,
    body        bytea not null,            -- the message as delivered (undecoded)
    element     int,                       -- index in a JSON array, null for a whole message
    msg_id      text,
    table_code  text,
    reason_code text not null,             -- invalid_json, unknown_table, missing_<field>, bad_value, bad_op
    reason      text not null
);
create index if not exists cdc_poison_received on meta.cdc_poison (received_at);
comment on table meta.cdc_poison is '增量毒消息：无法应用的每条变更消息一行（原始消息体、路由键、原因）';

-- Per table: the base of the last FULL re-base and what the incremental channels did.
create table if not exists meta.cdc_table_state (
    table_code      text primary key,
    base_seq        bigint,                -- BATCH@seq of the last FULL: changes at or below are ignored
    base_batch_id   text,
    rebased_at      timestamptz,
    watermark_seq   bigint,                -- highest message seq applied
    last_applied_at timestamptz,
    last_change_ts  timestamptz,           -- source commit time of the newest applied change
    applied         bigint not null default 0,
    ignored         bigint not null default 0,
    deleted         bigint not null default 0,
    channels        text[] not null default '{}',  -- 'mq' and/or 'incr'
    both_alerted    boolean not null default false
);
comment on table meta.cdc_table_state is '增量同步表状态：每张表一行（全量基线序号、水位、已应用/忽略/删除计数、来源通道）';

-- Reconciliation (数据对账) of RECON packages.
create table if not exists meta.recon_run (
    recon_id        bigserial primary key,
    delivery_id     bigint,
    batch_id        text not null,
    table_code      text not null,
    as_of           timestamptz not null,
    rows_province   bigint not null,
    rows_local      bigint not null,
    buckets_differing int not null,
    buckets_in_flight int not null,
    keys_differing  int not null,
    keys_in_flight  int not null,
    repair_path     text,
    ran_at          timestamptz not null default now()
);
create index if not exists recon_run_batch on meta.recon_run (batch_id, table_code);
comment on table meta.recon_run is '对账结果：每个对账批次每张表一行（省厅行数、本地行数、差异桶数、差异主键数、在途主键数）';

create table if not exists meta.recon_bucket (
    recon_id      bigint not null references meta.recon_run (recon_id) on delete cascade,
    bucket        int not null,
    province_rows bigint not null,
    province_xor  text not null,
    local_rows    bigint not null,
    local_xor     text not null,
    in_flight     boolean not null,        -- every candidate key of the bucket changed after as_of
    primary key (recon_id, bucket)
);
comment on table meta.recon_bucket is '对账差异桶：每个差异桶一行（省厅与本地的行数和异或摘要）';

create table if not exists meta.recon_key (
    recon_id   bigint not null references meta.recon_run (recon_id) on delete cascade,
    bucket     int not null,
    pk_text    text not null,
    pk         jsonb not null,
    state      text not null check (state in ('differing', 'in_flight')),
    local      text not null,              -- live, deleted
    primary key (recon_id, pk_text)
);
comment on table meta.recon_key is '对账差异主键：差异桶中的每个主键一行（差异或在途、本地状态）';
