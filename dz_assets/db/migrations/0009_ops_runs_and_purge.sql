-- Operations: the last successful run of each Dagster job, kept in the warehouse so that the
-- metrics and `dzhub status` read it without Dagster's own storage; and what retention removed.

create table if not exists meta.job_run (
    job           text primary key,
    run_id        text not null,
    succeeded_at  timestamptz not null
);
comment on table meta.job_run is '任务运行：每个 Dagster 任务一行（最近一次成功运行的编号与时间）';

-- One row per purge and kind of file (backup, quarantine, rejects, objects, outbox).
create table if not exists meta.purge_run (
    purge_id     bigint not null,
    kind         text not null,
    started_at   timestamptz not null default now(),
    finished_at  timestamptz,
    dry_run      boolean not null,
    retain_days  int not null,
    files        bigint not null default 0,   -- files removed (or that would be, in a dry run)
    bytes        bigint not null default 0,
    kept         bigint not null default 0,   -- old enough, kept because a later step needs it
    error        text,
    primary key (purge_id, kind)
);
create sequence if not exists meta.purge_run_seq;
comment on table meta.purge_run is '保留期清理：每次清理每类文件一行（保留天数、删除文件数与字节数、因后续步骤仍需要而保留的文件数、错误）';
