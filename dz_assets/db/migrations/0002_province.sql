-- Provincial packages: batch registry, per-file figures, rejected rows, quality flags, schema
-- drift and unstructured objects (package-format.md; requirement §3.1.1).

-- One row per delivery of a package (a duplicate delivery gets its own row, status 'duplicate').
create table if not exists meta.batch (
    delivery_id   bigserial primary key,
    batch_id      text not null,
    source        text not null,
    kind          text not null check (kind in ('FULL', 'INCR', 'RECON')),
    batch_date    date not null,           -- the YYYYMMDD of the batch id (Beijing day)
    batch_no      int  not null,           -- NNNN
    file_name     text not null,
    size_bytes    bigint not null,
    sha256        text not null,
    created       timestamptz,             -- BATCH@created
    seq           bigint,                  -- BATCH@seq (FULL)
    prev          text,                    -- BATCH@prev (INCR)
    received_at   timestamptz not null default now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    status        text not null check (status in (
                      'received', 'loading', 'loaded', 'failed', 'quarantined', 'duplicate',
                      'stale', 'waiting', 'pending_apply', 'applied')),
    reason        text,                    -- why quarantined / failed / stale / waiting
    rows_total    bigint not null default 0,
    rows_loaded   bigint not null default 0,
    rows_rejected bigint not null default 0,
    rows_duplicate bigint not null default 0,
    rows_flagged  bigint not null default 0,
    objects       bigint not null default 0,
    backup_path   text,
    quarantine_path text,
    errors        jsonb not null default '[]'::jsonb,  -- package-level problems (verdict codes)
    drift         jsonb not null default '[]'::jsonb   -- FIELD lists that differ from the catalogue
);
create index if not exists batch_batch_id on meta.batch (batch_id);
create index if not exists batch_source_order on meta.batch (source, batch_date, batch_no);
-- A batch id loads at most once: only one delivery of it may reach a loading/loaded state.
create unique index if not exists batch_loaded_once on meta.batch (batch_id)
    where status in ('loading', 'loaded', 'pending_apply', 'applied');
comment on table meta.batch is '数据接收批次：每次包文投递一行（批次号、来源、类型、文件、大小、SHA-256、接收/开始/完成时间、状态、计数）';

-- Per data file of a batch: declared vs found.
create table if not exists meta.batch_file (
    delivery_id   bigint not null references meta.batch (delivery_id) on delete cascade,
    table_code    text not null,
    file_name     text not null,
    records       bigint not null,         -- declared in the index
    bytes         bigint not null,
    rows_loaded   bigint not null default 0,
    rows_rejected bigint not null default 0,
    rows_duplicate bigint not null default 0,
    rows_flagged  bigint not null default 0,
    duration_s    double precision,
    primary key (delivery_id, file_name)
);
comment on table meta.batch_file is '批次文件：每个数据文件一行（声明记录数、入库、拒收、重复、标记）';

-- Rejected rows, kept whole so nothing is lost (dzhub rejects BATCH --csv).
create table if not exists meta.reject (
    reject_id   bigserial primary key,
    delivery_id bigint references meta.batch (delivery_id) on delete cascade,
    batch_id    text not null,
    table_code  text,
    file_name   text not null,
    line        bigint not null,           -- 1-based within the file
    field       text,                      -- field code, or null for a whole-line problem
    reason      text not null,
    raw_line    bytea not null             -- the line as delivered (its bytes, undecoded)
);
create index if not exists reject_batch on meta.reject (batch_id, file_name, line);
comment on table meta.reject is '异常数据：每条被拒收的记录一行（批次、文件、行号、字段、原因、原始行）';

-- Quality findings that do not reject a row, counted per batch, table, field and kind.
create table if not exists meta.batch_flag (
    delivery_id bigint not null references meta.batch (delivery_id) on delete cascade,
    table_code  text not null,
    field       text not null,
    flag        text not null,             -- id_checkdigit, id_region, id_birth, code_unknown, date_future, outside_dazhou
    rows        bigint not null,
    sample_line bigint,                    -- one line that carries it, for a look
    sample_file text,
    primary key (delivery_id, table_code, field, flag)
);
comment on table meta.batch_flag is '质量标记：按批次、表、字段、标记类型计数（身份号码校验位、代码不在代码表、日期晚于批次、地址不在达州等）';

-- Unstructured objects: content-addressed store, linked to the row that references them.
create table if not exists meta.object (
    sha256      text primary key,
    bytes       bigint not null,
    store_path  text not null,
    first_batch text not null,
    stored_at   timestamptz not null default now()
);
create table if not exists meta.object_ref (
    sha256     text not null references meta.object (sha256),
    batch_id   text not null,
    table_code text not null,
    row_key    text not null,              -- the key fields' values joined by '|'
    field      text not null,
    member     text not null,              -- the zip member name under files/
    primary key (batch_id, table_code, row_key, field)
);
comment on table meta.object is '非结构化数据：每个对象（按SHA-256寻址）一行';
comment on table meta.object_ref is '非结构化数据引用：对象与引用它的记录（批次、表、主键、字段）';
