-- The operations console (issue 24): its password hashes and sessions, audit entries and reveals
-- on behalf of a signed-in login, the change stream's hourly figures, and the few writes an
-- operator makes from its pages.
--
-- The console connects as the warehouse owner and runs each request as the signed-in login
-- (SET LOCAL ROLE), so masking, jurisdiction and grants are the database's own. Inside a SECURITY
-- DEFINER function the caller's role is no longer visible (session_user is the console's owner
-- connection), so the audited functions get an "_as" form that takes the login the console has
-- verified; only the owner may call those.

-- Password hashes (scrypt, never the password) and sessions live in a schema of their own that
-- meta.dz_grant_access() never grants on: not even dz_engineer reads them.
create schema if not exists console;
revoke all on schema console from public;
comment on schema console is '运维控制台：登录口令哈希与会话（仅属主可读写）';

create table if not exists console.password (
    login      text primary key,
    hash       text not null,              -- scrypt$N$r$p$salt$key (base64), dz_assets/security/passwords.py
    updated_at timestamptz not null default now()
);
comment on table console.password is '控制台登录口令：每个账号一行（scrypt 哈希，不存明文）';

create table if not exists console.session (
    token_hash  text primary key,          -- SHA-256 of the cookie's random token
    login       text not null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    client_addr text
);
create index if not exists session_expires on console.session (expires_at);
comment on table console.session is '控制台会话：每次登录一行（令牌哈希、账号、到期时间）';

-- An audit entry on behalf of a login the console has verified (meta.audit_log records
-- session_user, which is the console's own connection here).
create or replace function meta.audit_log_as(p_login text, p_action text, p_object text,
                                             p_details jsonb default '{}'::jsonb, p_os_user text default null)
returns bigint language sql security definer set search_path = pg_catalog, pg_temp as $$
    insert into meta.audit (db_user, os_user, action, object, details)
    values (p_login, p_os_user, p_action, p_object, coalesce(p_details, '{}'::jsonb))
    returning audit_id
$$;
revoke all on function meta.audit_log_as(text, text, text, jsonb, text) from public;

-- The audited reveal for a named login: meta.reveal's rules (officer or engineer only, the row
-- must lie in the login's jurisdiction, the entry is written before the row is read) with the
-- login passed in. meta.reveal becomes its caller with session_user, as before.
create or replace function meta.reveal_as(p_login name, p_relation text, p_id_hash text, p_reason text,
                                          p_os_user text default null)
returns table (column_name text, value text)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    v_schema text := regexp_replace(split_part(p_relation, '.', 1), '^masked_', '');
    v_rel text := split_part(p_relation, '.', 2);
    base regclass;
    id_col text;
    shown text[];
    stations text[];
    scope text[] := meta.scope_stations(p_login);
    pred text;
    found jsonb;
begin
    if not (pg_has_role(p_login, 'dz_officer', 'member') or pg_has_role(p_login, 'dz_engineer', 'member')) then
        raise exception 'reveal: % is not a dz_officer', p_login using errcode = 'insufficient_privilege';
    end if;
    if coalesce(btrim(p_reason), '') = '' then
        raise exception 'reveal: a reason is required' using errcode = 'invalid_parameter_value';
    end if;
    perform meta.audit_log_as(p_login, 'reveal', v_schema || '.' || v_rel,
                              jsonb_build_object('id_hash', p_id_hash, 'reason', p_reason), p_os_user);
    base := to_regclass(format('%I.%I', v_schema, v_rel));
    if base is null or v_schema not in ('ods', 'core', 'topic', 'element', 'model') then
        return;
    end if;
    select array_agg(a.attname::text order by a.attnum) filter (where cc.pii in ('idcard', 'name')),
           array_agg(a.attname::text order by a.attnum) filter (where a.attname = any (meta.station_columns()))
      into shown, stations
      from pg_attribute a
      join meta.column_class cc on cc.schema_name = v_schema and cc.relation = v_rel and cc.column_name = a.attname
     where a.attrelid = base and a.attnum > 0 and not a.attisdropped;
    select a.attname::text into id_col
      from pg_attribute a
      join meta.column_class cc on cc.schema_name = v_schema and cc.relation = v_rel and cc.column_name = a.attname
     where a.attrelid = base and a.attnum > 0 and not a.attisdropped and cc.pii = 'idcard'
     order by a.attnum limit 1;
    if id_col is null then
        return;
    end if;
    if scope is null then
        pred := 'true';
    elsif cardinality(stations) > 0 then
        select string_agg(format('t.%I = any ($2)', s), ' or ') into pred from unnest(stations) s;
    else
        pred := 'false';  -- a scoped login, a relation without a station column
    end if;
    execute format('select jsonb_build_object(%s) from %s t '
                   'where meta.pii_hash(t.%I::text) = $1 '
                   'and (%s) limit 1',
                   (select string_agg(format('%L, t.%I::text', c, c), ', ') from unnest(shown) c),
                   base, id_col, pred)
      into found using p_id_hash, scope;
    if found is not null then
        return query select e.key, e.value from jsonb_each_text(found) e;
    end if;
end $$;
revoke all on function meta.reveal_as(name, text, text, text, text) from public;

create or replace function meta.reveal(p_relation text, p_id_hash text, p_reason text,
                                       p_os_user text default null)
returns table (column_name text, value text)
language sql security definer set search_path = pg_catalog, pg_temp as $$
    select r.column_name, r.value from meta.reveal_as(session_user, p_relation, p_id_hash, p_reason, p_os_user) r
$$;
revoke all on function meta.reveal(text, text, text, text) from public;

-- The change stream over time (增量同步): per hour and table, changes received and their lag
-- (applied_at - ts, the source's commit time). Read from the newest p_window changes of each
-- change log by its log_id index, so a page view costs the same however long the logs grow.
-- Figures only, no key or value: operators read it without reading raw.*.
create or replace function meta.cdc_hourly(p_hours int default 24, p_window int default 50000)
returns table (hour timestamptz, table_code text, changes bigint, applied bigint, lag_avg_s double precision,
               lag_max_s double precision)
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    r record;
begin
    for r in select c.relname::text as rel
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = 'raw' and c.relkind = 'r' and c.relname like '%\_\_changes'
    loop
        return query execute format(
            'select date_trunc(''hour'', l.received_at), %L::text, count(*), count(l.applied_at), '
            '       avg(extract(epoch from l.applied_at - l.ts))::double precision, '
            '       max(extract(epoch from l.applied_at - l.ts))::double precision '
            'from (select received_at, applied_at, ts from raw.%I order by log_id desc limit $2) l '
            'where l.received_at >= now() - make_interval(hours => $1) group by 1',
            left(r.rel, -9), r.rel) using p_hours, p_window;
    end loop;
end $$;
revoke all on function meta.cdc_hourly(int, int) from public;

-- Rejects of one delivery, page by page (the console's keyset) and streamed (the CSV): by
-- delivery and id, as a batch may hold a million.
create index if not exists reject_delivery on meta.reject (delivery_id, reject_id);
-- A finding's latest verdict, for the page's rows.
create index if not exists finding_review__finding on meta.finding_review (finding_id, reviewed_at desc);

-- What the console's pages write as the signed-in login, beyond meta.dz_grant_access(); called
-- after it by `dzhub db init` (dz_assets/security/classify.py apply_access).
create or replace function meta.dz_grant_console() returns void language plpgsql as $$
begin
    if exists (select from unnest(array['dz_engineer', 'dz_operator', 'dz_analyst', 'dz_auditor']) g
               where not exists (select 1 from pg_roles where rolname = g)) then
        return;
    end if;
    -- Operators acknowledge and silence alerts (who and when is all they change).
    grant update (acked_by, acked_at, resolved_at) on meta.alert to dz_operator;
    grant insert on meta.alert_silence to dz_operator;
    grant usage on sequence meta.alert_silence_silence_id_seq to dz_operator;
    grant execute on function meta.cdc_hourly(int, int) to dz_operator, dz_engineer;
    -- A finding's latest verdict, without the subject's number (analysts and officers read
    -- findings through masked_model; the review's own subject columns stay the owner's).
    grant select (review_id, finding_id, model_code, rule_version, as_of, verdict, note, reviewer, reviewed_at)
        on meta.finding_review to dz_analyst;
end $$;
