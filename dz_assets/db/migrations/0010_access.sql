-- Access and protection (requirement §4 1.8): group roles, the append-only audit log, login scopes,
-- personal-data masking and the generator of the masked views (schemas masked_<layer>).
-- Grants are not applied here but by meta.dz_grant_access(), which `dzhub db init`, the FULL swap
-- and dbt's on-run-end call again: tables re-created by a swap or a rebuild get them back, and a
-- server that refused CREATEROLE gets them once a DBA has created the roles (README, "Access").

-- Group roles. Role names are cluster-wide: another database of the cluster may have made them
-- already (or be making them now); a server without CREATEROLE leaves them to a DBA.
do $$
declare
    g text;
begin
    foreach g in array array['dz_engineer', 'dz_operator', 'dz_analyst', 'dz_officer', 'dz_redirect',
                             'dz_auditor'] loop
        if not exists (select 1 from pg_roles where rolname = g) then
            begin
                execute format('create role %I nologin', g);
            exception
                when duplicate_object or unique_violation then null;
                when insufficient_privilege then
                    raise warning 'dz-hub: not allowed to create role % (CREATEROLE refused): a DBA runs the SQL of README "Access"', g;
            end;
        end if;
    end loop;
end $$;

-- Masked views of the analysts' layers live in schemas of their own, one per layer, with the
-- base relation's name: an analyst's query moves from core.core_person to masked_core.core_person.
create schema if not exists masked_ods;
create schema if not exists masked_core;
create schema if not exists masked_topic;
create schema if not exists masked_element;
create schema if not exists masked_model;

-- The audit log. Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE to everyone,
-- the superuser included; entries are written through meta.audit_log(), which records the login.
create table if not exists meta.audit (
    audit_id    bigint generated always as identity primary key,
    at          timestamptz not null default clock_timestamp(),
    db_user     text not null default session_user,
    os_user     text,
    client_addr inet default inet_client_addr(),
    action      text not null,
    object      text,
    details     jsonb not null default '{}'::jsonb
);
create index if not exists audit_at on meta.audit (at);
comment on table meta.audit is '审计日志：每次操作一行（数据库登录名、操作系统用户、时间、操作、对象、详情），只可追加';

create or replace function meta.audit_refuse() returns trigger language plpgsql as $$
begin
    raise exception 'meta.audit is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end $$;
create trigger audit_no_change before update or delete on meta.audit
    for each row execute procedure meta.audit_refuse();
create trigger audit_no_truncate before truncate on meta.audit
    for each statement execute procedure meta.audit_refuse();

create or replace function meta.audit_log(p_action text, p_object text, p_details jsonb default '{}'::jsonb,
                                          p_os_user text default null)
returns bigint language sql security definer set search_path = pg_catalog, pg_temp as $$
    insert into meta.audit (db_user, os_user, action, object, details)
    values (session_user, p_os_user, p_action, p_object, coalesce(p_details, '{}'::jsonb))
    returning audit_id
$$;

-- The jurisdiction of a login: one police station (GAJGJGDM) or one county (XZQHDM), or no row
-- (all rows). Written by `dzhub users add`.
create table if not exists meta.login_scope (
    login   text primary key,
    station text,
    county  text,
    check (station is null or county is null)
);
comment on table meta.login_scope is '登录账号辖区：每个绑定辖区的账号一行（派出所机构代码或县级行政区划代码）';

-- The stations a login sees: null for an unscoped login; a county's are the GAJG codes under its
-- division code (its 公安局/分局 and 派出所 all begin with the county's six digits).
create or replace function meta.scope_stations(p_login name) returns text[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select case
        when s.station is not null then array[s.station]
        else coalesce((select array_agg(c.code) from meta.code_table c
                        where c.dict = 'GAJG' and c.code like s.county || '%'), '{}'::text[])
    end
    from meta.login_scope s
    where s.login = p_login and (s.station is not null or s.county is not null)
$$;

-- The secret of the keyed hash columns: only the owner reads it (the masked views do, as their owner).
create table if not exists meta.pii_key (
    id         int primary key default 1 check (id = 1),
    secret     text not null default encode(sha256(convert_to(
                   gen_random_uuid()::text || gen_random_uuid()::text || clock_timestamp()::text, 'UTF8')), 'hex'),
    created_at timestamptz not null default now()
);
insert into meta.pii_key (id) values (1) on conflict (id) do nothing;
revoke all on meta.pii_key from public;

-- The keyed hash beside each ID number in the masked views: SHA-256 over the secret and the
-- upper-cased, trimmed number. Immutable (the secret is made once) so that an index on it serves
-- an analyst's lookup by hash; leakproof (it only hashes; only a superuser may say so) so that
-- the lookup may use that index inside the security-barrier view.
create or replace function meta.pii_hash(v text) returns text
language sql immutable strict parallel safe security definer set search_path = pg_catalog, pg_temp as $$
    select encode(sha256(convert_to((select k.secret from meta.pii_key k) || upper(btrim(v)), 'UTF8')), 'hex')
$$;
revoke all on function meta.pii_hash(text) from public;
do $$
begin
    if (select rolsuper from pg_roles where rolname = current_user) then
        alter function meta.pii_hash(text) leakproof;
    else
        raise warning 'dz-hub: meta.pii_hash is not leakproof (a superuser runs: alter function meta.pii_hash(text) leakproof): analysts'' lookups by hash will scan';
    end if;
end $$;

-- Personal-data class of every column of the relations analysts read: ODS from the catalogue
-- (dz_assets/security/classify.py), dbt models from their yml (dbt's on-run-end). A column
-- without a row here is left out of its masked view.
create table if not exists meta.column_class (
    schema_name text not null,
    relation    text not null,
    column_name text not null,
    pii         text not null check (pii in ('idcard', 'name', 'phone', 'address_detail', 'free_text',
                                             'json', 'none')),
    primary key (schema_name, relation, column_name)
);
comment on table meta.column_class is '字段个人信息分类：分析层每个字段一行（身份号码、姓名、电话、详细地址、自由文本、JSON、非个人信息）';

-- Masking rules. ID numbers keep their first and last four characters (18 digits: 10 stars,
-- 15 digits: 7); names keep the surname (two characters for a compound one); phones keep
-- 3 + 4 digits; address details are cut after the street (街/路/巷/大道, not 街道) with ***.
create or replace function meta.mask_idcard(v text) returns text language sql immutable parallel safe as $$
    select case when v is null then null
                when char_length(v) > 8 then left(v, 4) || repeat('*', char_length(v) - 8) || right(v, 4)
                else repeat('*', char_length(v)) end
$$;

create or replace function meta.mask_name(v text) returns text language sql immutable parallel safe as $$
    select case when v is null or v = '' then v
                when char_length(v) >= 3 and left(v, 2) = any (array[
                    '欧阳', '司马', '上官', '诸葛', '东方', '皇甫', '尉迟', '公孙', '慕容', '长孙', '宇文',
                    '司徒', '夏侯', '轩辕', '令狐', '钟离', '西门', '南宫', '独孤', '端木', '申屠', '太史'])
                    then left(v, 2) || repeat('*', char_length(v) - 2)
                else left(v, 1) || repeat('*', greatest(char_length(v) - 1, 1)) end
$$;

create or replace function meta.mask_phone(v text) returns text language sql immutable parallel safe as $$
    select case when v is null then null
                when char_length(v) >= 8 then left(v, 3) || repeat('*', char_length(v) - 7) || right(v, 4)
                else repeat('*', char_length(v)) end
$$;

create or replace function meta.mask_address_detail(v text) returns text language sql immutable parallel safe as $$
    select case when v is null or v = '' then v
                else coalesce(substring(v from '^(.*?(大道|路|巷|街(?!道)))'), '') || '***' end
$$;

-- Free text (remarks, before/after values of a change): the ID numbers and mobile numbers in it.
create or replace function meta.mask_free_text(v text) returns text language sql immutable parallel safe as $$
    select regexp_replace(regexp_replace(regexp_replace(v,
               '([0-9]{4})[0-9]{10}([0-9]{3}[0-9Xx])', '\1**********\2', 'g'),
               '([0-9]{4})[0-9]{7}([0-9]{4})', '\1*******\2', 'g'),
               '(1[3-9][0-9])[0-9]{4}([0-9]{4})', '\1****\2', 'g')
$$;

-- JSON (rule-model evidence, ODS _extra): a string under a key that names personal data is masked
-- by that key's rule (…gmsfhm/…sfzh, …xm, …lxdh/…sjhm, …dzmc/…xz), any other string as free text.
create or replace function meta.mask_json(v jsonb) returns jsonb language plpgsql immutable parallel safe as $$
declare
    k text;
    e jsonb;
    s text;
    masked jsonb;
begin
    if v is null then
        return null;
    end if;
    if jsonb_typeof(v) = 'object' then
        masked := '{}'::jsonb;
        for k, e in select * from jsonb_each(v) loop
            if jsonb_typeof(e) = 'string' then
                s := e #>> '{}';
                masked := masked || jsonb_build_object(k, case
                    when lower(k) ~ '(gmsfhm|sfzh|idcard)$' then meta.mask_idcard(s)
                    when lower(k) ~ 'xm$' and lower(k) <> 'bgxm' then meta.mask_name(s)
                    when lower(k) ~ '(lxdh|sjhm|phone)$' then meta.mask_phone(s)
                    when lower(k) ~ '(dzmc|xz)$' then meta.mask_address_detail(s)
                    else meta.mask_free_text(s) end);
            else
                masked := masked || jsonb_build_object(k, meta.mask_json(e));
            end if;
        end loop;
        return masked;
    elsif jsonb_typeof(v) = 'array' then
        select coalesce(jsonb_agg(meta.mask_json(x) order by n), '[]'::jsonb) into masked
        from jsonb_array_elements(v) with ordinality a (x, n);
        return masked;
    elsif jsonb_typeof(v) = 'string' then
        return to_jsonb(meta.mask_free_text(v #>> '{}'));
    elsif jsonb_typeof(v) = 'number' and v::text ~ '^[0-9]{15}([0-9]{3})?$' then
        return to_jsonb(meta.mask_idcard(v::text));
    end if;
    return v;
end $$;

-- The columns that place a row in a police station's jurisdiction.
create or replace function meta.station_columns() returns text[] language sql immutable as $$
    select array['gajgjgdm', 'jz_gajgjgdm', 'hj_gajgjgdm', 'gkgajgjgdm']
$$;

-- (Re)create the masked view of one relation from its column classes: masked columns, a keyed
-- hash beside each ID number (<column>_hash: SHA-256 over the secret and the upper-cased,
-- trimmed number), and rows limited to the reader's jurisdiction. A security barrier keeps the
-- reader's own conditions from being evaluated before the jurisdiction's. Returns the view's
-- name, or null when the relation does not exist.
create or replace function meta.dz_protect(p_schema text, p_relation text) returns text
language plpgsql as $$
declare
    base regclass := to_regclass(format('%I.%I', p_schema, p_relation));
    masked text := 'masked_' || p_schema;
    cols text[] := '{}';
    stations text[] := '{}';
    personal boolean := false;
    pred text;
    r record;
begin
    if base is null or to_regnamespace(masked) is null then
        return null;
    end if;
    for r in
        select a.attname::text as col, cc.pii
        from pg_attribute a
        left join meta.column_class cc
               on cc.schema_name = p_schema and cc.relation = p_relation and cc.column_name = a.attname
        where a.attrelid = base and a.attnum > 0 and not a.attisdropped
        order by a.attnum
    loop
        continue when r.pii is null;  -- unclassified: left out until classified
        if r.col = any (meta.station_columns()) then
            stations := stations || r.col;
        end if;
        personal := personal or r.pii <> 'none';
        cols := cols || case r.pii
            when 'none' then format('t.%I', r.col)
            when 'idcard' then format(
                'meta.mask_idcard(t.%1$I::text) as %1$I, meta.pii_hash(t.%1$I::text) as %2$I', r.col, r.col || '_hash')
            when 'json' then format('meta.mask_json(t.%1$I::jsonb) as %1$I', r.col)
            else format('meta.mask_%2$s(t.%1$I::text) as %1$I', r.col, r.pii)
        end;
    end loop;
    if cardinality(stations) > 0 then
        select '(select meta.scope_stations(current_user)) is null or '
               || string_agg(format('t.%I = any ((select meta.scope_stations(current_user))::text[])', s), ' or ')
          into pred from unnest(stations) s;
    elsif personal then
        pred := '(select meta.scope_stations(current_user)) is null';  -- no station to judge by
    else
        pred := 'true';  -- nothing personal: counts and codes, the same for every jurisdiction
    end if;
    -- A person's number in the modelled layers is looked up by its hash: index it (a rebuilt
    -- table comes without). The ODS tables are read in bulk, not person by person.
    if p_schema <> 'ods' and exists (select 1 from meta.column_class where schema_name = p_schema
                                     and relation = p_relation and column_name = 'gmsfhm' and pii = 'idcard')
       and exists (select 1 from pg_class where oid = base and relkind in ('r', 'm', 'p')) then
        execute format('create index if not exists %I on %s (meta.pii_hash(gmsfhm::text))',
                       left(p_relation, 50) || '__id_hash', base);
    end if;
    execute format('drop view if exists %I.%I cascade', masked, p_relation);
    if cardinality(cols) = 0 then
        return null;
    end if;
    execute format('create view %I.%I with (security_barrier = true) as select %s from %s t where %s',
                   masked, p_relation, array_to_string(cols, ', '), base, pred);
    execute format('comment on view %I.%I is %L', masked, p_relation,
                   coalesce(obj_description(base, 'pg_class'), p_relation) || '（个人信息脱敏视图）');
    for r in select a.attname::text as col, col_description(base, a.attnum) as doc
             from pg_attribute a
             join meta.column_class cc on cc.schema_name = p_schema and cc.relation = p_relation
                                      and cc.column_name = a.attname
             where a.attrelid = base and a.attnum > 0 and not a.attisdropped
               and col_description(base, a.attnum) is not null
    loop
        execute format('comment on column %I.%I.%I is %L', masked, p_relation, r.col, r.doc);
    end loop;
    if exists (select 1 from pg_roles where rolname = 'dz_analyst') then
        execute format('grant select on %I.%I to dz_analyst, dz_engineer', masked, p_relation);
    end if;
    return format('%I.%I', masked, p_relation);
end $$;

-- Every classified relation's masked view.
create or replace function meta.dz_protect_all() returns int language plpgsql as $$
declare
    r record;
    n int := 0;
begin
    for r in select distinct schema_name, relation from meta.column_class order by 1, 2 loop
        if meta.dz_protect(r.schema_name, r.relation) is not null then
            n := n + 1;
        end if;
    end loop;
    return n;
end $$;

-- Audited reveal: an officer (or engineer) gets the unmasked ID numbers and names of one row of
-- a relation, found by its ID hash (the masked view's <column>_hash), inside the login's own
-- jurisdiction. The audit entry is written first, so a reveal that finds nothing is recorded too.
create or replace function meta.reveal(p_relation text, p_id_hash text, p_reason text,
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
    scope text[] := meta.scope_stations(session_user);
    pred text;
    found jsonb;
begin
    if not (pg_has_role(session_user, 'dz_officer', 'member') or pg_has_role(session_user, 'dz_engineer', 'member')) then
        raise exception 'reveal: % is not a dz_officer', session_user using errcode = 'insufficient_privilege';
    end if;
    if coalesce(btrim(p_reason), '') = '' then
        raise exception 'reveal: a reason is required' using errcode = 'invalid_parameter_value';
    end if;
    perform meta.audit_log('reveal', v_schema || '.' || v_rel,
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
revoke all on function meta.reveal(text, text, text, text) from public;
revoke all on function meta.scope_stations(name) from public;

-- Grants of every group role, idempotent: returns the group roles missing (nothing is granted
-- until they all exist).
create or replace function meta.dz_grant_access() returns text[] language plpgsql as $$
declare
    missing text[];
    s text;
    t text;
begin
    select array_agg(g) into missing
      from unnest(array['dz_engineer', 'dz_operator', 'dz_analyst', 'dz_officer', 'dz_redirect', 'dz_auditor']) g
     where not exists (select 1 from pg_roles where rolname = g);
    if missing is not null then
        return missing;
    end if;
    -- two grants of one object at once fail ("tuple concurrently updated"): one caller at a time
    perform pg_advisory_xact_lock(7117009);
    if not pg_has_role('dz_analyst', 'dz_officer', 'member') then
        grant dz_analyst to dz_officer;
    end if;

    -- dz_engineer: everything, now and what the owner creates later (swaps, dbt rebuilds), but
    -- the hash secret and writing the audit log.
    foreach s in array array['meta', 'raw', 'raw_src', 'ods', 'staging', 'core', 'topic', 'element', 'model',
                             'serve', 'masked_ods', 'masked_core', 'masked_topic', 'masked_element',
                             'masked_model'] loop
        continue when to_regnamespace(s) is null;
        execute format('grant usage, create on schema %I to dz_engineer', s);
        execute format('grant all on all tables in schema %I to dz_engineer', s);
        execute format('grant all on all sequences in schema %I to dz_engineer', s);
        execute format('alter default privileges in schema %I grant all on tables to dz_engineer', s);
        execute format('alter default privileges in schema %I grant all on sequences to dz_engineer', s);
    end loop;
    revoke all on meta.pii_key from dz_engineer;
    revoke insert, update, delete, truncate on meta.audit from dz_engineer;
    grant execute on function meta.reveal(text, text, text, text) to dz_engineer, dz_officer;
    grant execute on function meta.scope_stations(name) to dz_analyst, dz_engineer;
    grant execute on function meta.pii_hash(text) to dz_analyst, dz_engineer;

    -- dz_analyst (and dz_officer through it): the masked views and the code tables.
    grant usage on schema meta to dz_analyst, dz_operator, dz_auditor, dz_redirect;
    grant select on meta.code_table, meta.catalogue_table, meta.catalogue_field to dz_analyst, dz_operator;
    foreach s in array array['masked_ods', 'masked_core', 'masked_topic', 'masked_element', 'masked_model'] loop
        continue when to_regnamespace(s) is null;
        execute format('grant usage on schema %I to dz_analyst', s);
        execute format('grant select on all tables in schema %I to dz_analyst', s);
    end loop;

    -- dz_operator: how the loads and streams went, never a row's content.
    foreach t in array array['meta.batch', 'meta.batch_file', 'meta.batch_flag', 'meta.batch_daily', 'meta.alert',
                             'meta.recon_run', 'meta.recon_bucket', 'meta.cdc_table_state', 'meta.schema_migration',
                             'meta.object', 'meta.catalogue_sync', 'meta.alert_silence', 'meta.job_run',
                             'meta.purge_run'] loop
        continue when to_regclass(t) is null;
        execute format('grant select on %s to dz_operator', t);
    end loop;
    grant select (reject_id, delivery_id, batch_id, table_code, file_name, line, field, reason)
        on meta.reject to dz_operator;
    grant select (poison_id, received_at, queue, exchange, routing_key, element, msg_id, table_code,
                  reason_code, reason) on meta.cdc_poison to dz_operator;

    -- dz_auditor: the audit log, read-only.
    grant select on meta.audit to dz_auditor;

    -- dz_redirect: the served registry, the code table it names, its replay memory.
    grant select on meta.code_table to dz_redirect;
    grant select, insert, update, delete on meta.redirect_replay to dz_redirect;
    if to_regnamespace('serve') is not null then
        grant usage on schema serve to dz_redirect;
    end if;
    if to_regclass('serve.address_registry') is not null then
        grant select on serve.address_registry to dz_redirect;
    end if;
    return '{}'::text[];
end $$;
