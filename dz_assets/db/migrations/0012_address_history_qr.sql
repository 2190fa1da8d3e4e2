-- Standard-address history and the QR batches for sign making (spec/ecode-redirect.md, "Daily
-- QR batch (T+1)"; issue 22).
--
-- meta.address_state keeps every state each standard address (门楼: level 1, 层户: level 2) had,
-- with recorded_at (when dz-hub applied the package or change that brought it) beside source_ts
-- (the source's own time: a change's ts/_TS, a FULL's created). States come from whichever channel
-- wrote the ODS row: statement triggers on ods.ybss_bzdzmlxx / ods.ybss_bzdzchxx catch every
-- INCR and change-stream apply; a FULL swap re-creates those tables, so the swap calls
-- meta.dz_after_swap(), which attaches the triggers to the new table and records the difference
-- (rows gone from the FULL are recorded as deleted). meta.address_history_sync() does the same
-- catch-up for both tables at any time (db init, `dzhub qr`), idempotently.

create table if not exists meta.address_state (
    state_id    bigint generated always as identity primary key,
    dzbm        text not null,
    level       smallint not null check (level in (1, 2)),
    dzmc        text,
    xzqhdm      text,
    gajgjgdm    text,
    dzztdm      text,
    deleted     boolean not null,
    source_ts   timestamptz,
    recorded_at timestamptz not null,
    channel     text not null  -- the batch id of a FULL or INCR, 'mq' for the change stream
);
-- the last state of an address at a time: one index descent
create index if not exists address_state__key on meta.address_state (dzbm, level, recorded_at desc, state_id desc);
-- a day's candidates: the addresses with a state recorded that day
create index if not exists address_state__recorded on meta.address_state (recorded_at);
comment on table meta.address_state is '标准地址历史：每个标准地址（门楼、层户）的每个状态一行，含平台记录时间与来源时间';
comment on column meta.address_state.dzbm is '地址编码';
comment on column meta.address_state.level is '地址层级：1 门楼，2 层户';
comment on column meta.address_state.dzmc is '地址名称';
comment on column meta.address_state.xzqhdm is '行政区划代码';
comment on column meta.address_state.gajgjgdm is '公安机关机构代码（管辖派出所）';
comment on column meta.address_state.dzztdm is '地址状态代码：1 有效，2 停用，3 注销';
comment on column meta.address_state.deleted is '已删除（删除消息或全量包中不再出现）';
comment on column meta.address_state.source_ts is '来源时间（变更消息的时间或全量包的生成时间）';
comment on column meta.address_state.recorded_at is '平台记录时间（包或变更被应用的时间）';
comment on column meta.address_state.channel is '来源渠道：全量或增量包的批次号，mq 为变更消息';

-- Rows an INSERT (or the insert arm of an upsert) wrote: each is a new state.
create or replace function meta.address_state_inserted() returns trigger language plpgsql as $$
begin
    insert into meta.address_state (dzbm, level, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted, source_ts,
                                    recorded_at, channel)
    select n.dzbm::text, tg_argv[0]::smallint, n.dzmc::text, n.xzqhdm::text, n.gajgjgdm::text, n.dzztdm::text,
           n._deleted, coalesce(n._deleted_at, n._valid_from), n._loaded_at, coalesce(n._batch_id, 'mq')
    from new_rows n;
    return null;
end $$;

-- Rows an UPDATE changed: a new state only when what the batch compares (name, division,
-- station, status, deleted) changed; a re-delivery of the same values is no event.
create or replace function meta.address_state_updated() returns trigger language plpgsql as $$
begin
    insert into meta.address_state (dzbm, level, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted, source_ts,
                                    recorded_at, channel)
    select n.dzbm::text, tg_argv[0]::smallint, n.dzmc::text, n.xzqhdm::text, n.gajgjgdm::text, n.dzztdm::text,
           n._deleted, coalesce(n._deleted_at, n._valid_from), n._loaded_at, coalesce(n._batch_id, 'mq')
    from new_rows n
    left join old_rows o on o.dzbm = n.dzbm
    where o.dzbm is null
       or (o.dzmc::text, o.xzqhdm::text, o.gajgjgdm::text, o.dzztdm::text, o._deleted)
          is distinct from (n.dzmc::text, n.xzqhdm::text, n.gajgjgdm::text, n.dzztdm::text, n._deleted);
    return null;
end $$;

-- Attach the triggers to one address table and record whatever its rows hold that the history
-- does not (rows written before the triggers, a FULL's build): recorded at the row's _loaded_at,
-- or at p_at (a swap's time) when given; an address the table no longer holds gets a deleted
-- state at p_at (or now()). Returns the states recorded.
create or replace function meta.address_history_sync_table(p_table text, p_at timestamptz default null)
returns bigint language plpgsql as $$
declare
    lvl smallint := case p_table when 'ybss_bzdzmlxx' then 1 when 'ybss_bzdzchxx' then 2 end;
    rel regclass := to_regclass('ods.' || p_table);
    n bigint := 0;
    m bigint := 0;
begin
    if lvl is null or rel is null then
        return 0;
    end if;
    if not exists (select 1 from pg_trigger where tgrelid = rel and tgname = 'address_state_ins') then
        execute format('create trigger address_state_ins after insert on %s referencing new table as new_rows '
                       'for each statement execute procedure meta.address_state_inserted(%s)', rel, lvl);
    end if;
    if not exists (select 1 from pg_trigger where tgrelid = rel and tgname = 'address_state_upd') then
        execute format('create trigger address_state_upd after update on %s referencing old table as old_rows '
                       'new table as new_rows for each statement execute procedure meta.address_state_updated(%s)',
                       rel, lvl);
    end if;
    -- The addresses' last states, sorted out of the history once for both statements below (the
    -- rows the first one adds are all of addresses the table holds, which the second skips).
    drop table if exists pg_temp.address_state_last;
    execute format($q$
        create temporary table address_state_last on commit drop as
        select distinct on (dzbm) dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted
        from meta.address_state where level = %s
        order by dzbm, recorded_at desc, state_id desc
    $q$, lvl);
    -- one pass over the table and the addresses' last states (a hash join: a FULL holds them all)
    execute format($q$
        insert into meta.address_state (dzbm, level, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted, source_ts,
                                        recorded_at, channel)
        select o.dzbm::text, %2$s, o.dzmc::text, o.xzqhdm::text, o.gajgjgdm::text, o.dzztdm::text, o._deleted,
               coalesce(o._deleted_at, o._valid_from), coalesce($1, o._loaded_at), coalesce(o._batch_id, 'mq')
        from %1$s o
        left join address_state_last s on s.dzbm = o.dzbm::text
        where s.dzbm is null
           or (s.dzmc, s.xzqhdm, s.gajgjgdm, s.dzztdm, s.deleted)
              is distinct from (o.dzmc::text, o.xzqhdm::text, o.gajgjgdm::text, o.dzztdm::text, o._deleted)
    $q$, rel, lvl) using p_at;
    get diagnostics n = row_count;
    execute format($q$
        insert into meta.address_state (dzbm, level, dzmc, xzqhdm, gajgjgdm, dzztdm, deleted, source_ts,
                                        recorded_at, channel)
        select s.dzbm, %2$s, s.dzmc, s.xzqhdm, s.gajgjgdm, s.dzztdm, true, null, coalesce($1, now()), 'full'
        from address_state_last s
        where not s.deleted and not exists (select 1 from %1$s o where o.dzbm::text = s.dzbm)
    $q$, rel, lvl) using p_at;
    get diagnostics m = row_count;
    drop table address_state_last;
    return n + m;
end $$;

create or replace function meta.address_history_sync() returns bigint language plpgsql as $$
begin
    -- one sync at a time: two would record the same difference twice
    perform pg_advisory_xact_lock(7117012);
    return meta.address_history_sync_table('ybss_bzdzmlxx') + meta.address_history_sync_table('ybss_bzdzchxx');
end $$;

-- What the warehouse keeps beside an ODS table, again after a FULL swap re-created it (called by
-- the swap in its transaction): today the address history of the two standard-address tables.
create or replace function meta.dz_after_swap(p_schema text, p_relation text) returns bigint
language plpgsql as $$
begin
    if p_schema = 'ods' and p_relation in ('ybss_bzdzmlxx', 'ybss_bzdzchxx') then
        perform pg_advisory_xact_lock(7117012);
        return meta.address_history_sync_table(p_relation, now());
    end if;
    return 0;
end $$;

-- One row per address change event (§3.5 (1) 地址维护与变更监控): each state compared with the
-- previous state of the same address and level. 登记: active after none or an inactive one;
-- 停用: disabled; 注销: cancelled or deleted; 更改: name, division or station changed.
create or replace view meta.address_maintenance as
with s as (
    select a.*,
           not a.deleted and a.dzztdm = '1' as active,
           a.deleted or a.dzztdm = '3' as gone,
           lag(a.state_id) over w as prev_id,
           lag(not a.deleted and a.dzztdm = '1') over w as prev_active,
           lag(a.deleted or a.dzztdm = '3') over w as prev_gone,
           lag(a.dzztdm) over w as prev_status,
           lag(a.deleted) over w as prev_deleted,
           lag((a.dzmc, a.xzqhdm, a.gajgjgdm)::text) over w as prev_values
    from meta.address_state a
    window w as (partition by a.dzbm, a.level order by a.recorded_at, a.state_id)
), e as (
    select s.*,
           case
               when s.active and coalesce(s.prev_active, false) = false then '登记'
               when s.gone and coalesce(s.prev_gone, false) = false and s.prev_id is not null then '注销'
               when not s.deleted and s.dzztdm = '2' and s.prev_id is not null
                    and (s.prev_status is distinct from '2' or s.prev_deleted) then '停用'
               when s.prev_id is not null and not s.gone
                    and (s.dzmc, s.xzqhdm, s.gajgjgdm)::text is distinct from s.prev_values then '更改'
           end as action
    from s
)
select (e.recorded_at at time zone 'Asia/Shanghai')::date as day,
       left(e.xzqhdm, 6) as xzqhdm,
       e.gajgjgdm,
       e.dzbm,
       e.dzmc,
       e.action,
       e.recorded_at,
       e.source_ts,
       e.level,
       e.dzztdm,
       e.xzqhdm as xzqhdm_full,
       e.state_id
from e
where e.action is not null;
comment on view meta.address_maintenance is '标准地址维护记录：每次地址变更事件一行（登记、停用、注销、更改），按北京时间日期、县级区划与派出所统计';
comment on column meta.address_maintenance.day is '记录日期（北京时间）';
comment on column meta.address_maintenance.xzqhdm is '县级行政区划代码（6 位）';
comment on column meta.address_maintenance.action is '维护动作：登记、停用、注销、更改';

-- One row per delivered zip of QR codes: the daily T+1 batch (replaced when its day is made
-- again), a reprint of single codes, or a chunk of the first issue.
create table if not exists meta.qr_batch (
    id           bigserial primary key,
    kind         text not null check (kind in ('daily', 'reprint', 'first_issue')),
    day          date,  -- the delivery day D of a daily batch (null for a reprint)
    count        int not null,
    sha256       text not null,
    path         text not null,
    generated_at timestamptz not null default now(),
    provisional  bool not null default false,
    verified     int not null default 0,  -- codes decoded by the independent decoder and matched
    figures      jsonb not null default '{}'::jsonb,
    chunk        int,   -- a first issue's chunk number
    scope        text,  -- a first issue's division prefix ('' for the whole city)
    pdf_path     text,
    pdf_sha256   text,
    dzbm         text[]  -- a reprint's addresses
);
create unique index if not exists qr_batch__daily on meta.qr_batch (day) where kind = 'daily';
create unique index if not exists qr_batch__chunk on meta.qr_batch (scope, chunk) where kind = 'first_issue';
comment on table meta.qr_batch is '二维码批次：每个交付的压缩包一行（每日批次、补打、首次发码分块），含数量、SHA-256、路径、生成时间、是否临时与校验数';

-- Classification: no ID numbers, names or phones; the address name is classed as elsewhere.
insert into meta.column_class (schema_name, relation, column_name, pii)
select 'meta', r, c, case when c = 'dzmc' then 'address_detail' else 'none' end
from (values
    ('address_state', array['state_id', 'dzbm', 'level', 'dzmc', 'xzqhdm', 'gajgjgdm', 'dzztdm', 'deleted',
                            'source_ts', 'recorded_at', 'channel']),
    ('address_maintenance', array['day', 'xzqhdm', 'gajgjgdm', 'dzbm', 'dzmc', 'action', 'recorded_at',
                                  'source_ts', 'level', 'dzztdm', 'xzqhdm_full', 'state_id']),
    ('qr_batch', array['id', 'kind', 'day', 'count', 'sha256', 'path', 'generated_at', 'provisional',
                       'verified', 'figures', 'chunk', 'scope', 'pdf_path', 'pdf_sha256', 'dzbm'])
) v(r, cols), unnest(v.cols) c
on conflict do nothing;

-- Readers: sign making and maintenance monitoring are the operators' and stations' work; the
-- engineers get everything through 0010's schema-wide grants. Called by db init after the
-- group roles' grants (dz_assets/security/classify.py apply_access).
create or replace function meta.dz_grant_address_access() returns void language plpgsql as $$
declare
    g text;
begin
    foreach g in array array['dz_operator', 'dz_analyst', 'dz_officer', 'dz_engineer'] loop
        continue when not exists (select 1 from pg_roles where rolname = g);
        execute format('grant usage on schema meta to %I', g);
        execute format('grant select on meta.address_state, meta.address_maintenance, meta.qr_batch to %I', g);
    end loop;
end $$;
select meta.dz_grant_address_access();
