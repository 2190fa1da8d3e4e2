-- The masked views' jurisdiction filter, rewritten so that a station-bound analyst's query costs
-- about what the owner's costs on the base table (issue 19's benchmark: ≤ 1.3×).
--
-- 0010 filtered with `(select meta.scope_stations(current_user)) is null or <col> = any((select …))`.
-- Those scalar sub-selects are InitPlans of the view's (security-barrier) subquery, and PostgreSQL
-- 15 drops every parallel path of a subquery that has an InitPlan: a per-station count ran on one
-- core while the owner's ran on three (1M persons: 168 ms against 66 ms), and each InitPlan
-- called the SECURITY DEFINER function again (~0.1 ms apiece on every lookup).
--
-- Now the view reads the scope tables itself (it runs with its owner's rights, so analysts still
-- cannot read them) and is the UNION ALL of two disjoint branches:
--   * an unscoped reader's: every row, behind a one-time filter (evaluated once per query);
--   * a scoped reader's: rows whose station column is one of the reader's stations, a hash
--     semi-join against meta.login_station (one station column) or hashed sub-plans (several);
-- neither uses an InitPlan, so both scan in parallel, and for a lookup by ID hash the index on
-- meta.pii_hash(gmsfhm) still serves (the hash is leakproof and pushed into both branches).
-- Unused masked columns of a count are not computed (PostgreSQL drops them branch by branch).
-- The masking functions move to PL/pgSQL below (same expressions), which takes their parsing
-- out of every query's planning. (The keyed hash stays SQL: as PL/pgSQL a lookup gained 0.03 ms
-- but hashing a column in bulk, as a rebuilt table's index does, lost 17 %.)

-- The stations a scoped login sees, one row each: its station, or the GAJG codes under its county
-- (the rule of meta.scope_stations, which the audited reveal keeps using). A table, not a view:
-- planning the view's union and join inside every masked query cost ~0.3 ms of a 0.2 ms lookup.
-- Kept by triggers on the scope and the code table (both tiny; rewritten whole, one writer at a time).
create table if not exists meta.login_station (
    login   text not null,
    station text not null,
    primary key (login, station)
);
comment on table meta.login_station is '账号可见派出所：每个绑定辖区的账号与其可见派出所机构代码一行（派出所账号一行，县级账号为其下各所），由触发器维护';

create or replace function meta.login_station_refresh() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
    lock table meta.login_station in exclusive mode;
    delete from meta.login_station;
    insert into meta.login_station (login, station)
    select s.login, s.station from meta.login_scope s where s.station is not null
    union
    select s.login, c.code
    from meta.login_scope s
    join meta.code_table c on c.dict = 'GAJG' and c.code like s.county || '%'
    where s.county is not null and s.station is null;
    return null;
end $$;
revoke all on function meta.login_station_refresh() from public;

create trigger login_station_from_scope after insert or update or delete or truncate on meta.login_scope
    for each statement execute procedure meta.login_station_refresh();
create trigger login_station_from_codes after insert or update or delete or truncate on meta.code_table
    for each statement execute procedure meta.login_station_refresh();
update meta.login_scope set login = login;  -- fires the trigger once: fills it for the logins made before

-- The masking rules of 0010, the same expressions, in PL/pgSQL: a SQL function is inlined into
-- every query, its text parsed again at each call site, which made planning a lookup through a
-- wide masked view cost more than the lookup itself (45-column core_person: 0.13 ms of masks'
-- planning against 0.1 ms for the owner's whole query). PL/pgSQL keeps its plan for the session,
-- and reading the 1M-person core_person through the view got faster too (1.50 s to 1.34 s).
create or replace function meta.mask_idcard(v text) returns text language plpgsql immutable parallel safe as $$
begin
    return case when v is null then null
                when char_length(v) > 8 then left(v, 4) || repeat('*', char_length(v) - 8) || right(v, 4)
                else repeat('*', char_length(v)) end;
end $$;

create or replace function meta.mask_name(v text) returns text language plpgsql immutable parallel safe as $$
begin
    return case when v is null or v = '' then v
                when char_length(v) >= 3 and left(v, 2) = any (array[
                    '欧阳', '司马', '上官', '诸葛', '东方', '皇甫', '尉迟', '公孙', '慕容', '长孙', '宇文',
                    '司徒', '夏侯', '轩辕', '令狐', '钟离', '西门', '南宫', '独孤', '端木', '申屠', '太史'])
                    then left(v, 2) || repeat('*', char_length(v) - 2)
                else left(v, 1) || repeat('*', greatest(char_length(v) - 1, 1)) end;
end $$;

create or replace function meta.mask_phone(v text) returns text language plpgsql immutable parallel safe as $$
begin
    return case when v is null then null
                when char_length(v) >= 8 then left(v, 3) || repeat('*', char_length(v) - 7) || right(v, 4)
                else repeat('*', char_length(v)) end;
end $$;

create or replace function meta.mask_address_detail(v text) returns text language plpgsql immutable parallel safe as $$
begin
    return case when v is null or v = '' then v
                else coalesce(substring(v from '^(.*?(大道|路|巷|街(?!道)))'), '') || '***' end;
end $$;

create or replace function meta.mask_free_text(v text) returns text language plpgsql immutable parallel safe as $$
begin
    return regexp_replace(regexp_replace(regexp_replace(v,
               '([0-9]{4})[0-9]{10}([0-9]{3}[0-9Xx])', '\1**********\2', 'g'),
               '([0-9]{4})[0-9]{7}([0-9]{4})', '\1*******\2', 'g'),
               '(1[3-9][0-9])[0-9]{4}([0-9]{4})', '\1****\2', 'g');
end $$;

-- Whether a person's number gets the index that serves lookups by its keyed hash: not on the
-- rule models' per-run working tables (mdl_base__*), which no analyst looks a person up in and
-- which are rebuilt every run (their three indexes cost 18 s of a 63 s run at 1M persons).
-- Set from the column's `meta: {hash_index: false}` in the model's yml.
alter table meta.column_class add column if not exists hash_index boolean not null default true;

create or replace function meta.dz_protect(p_schema text, p_relation text) returns text
language plpgsql as $$
declare
    base regclass := to_regclass(format('%I.%I', p_schema, p_relation));
    masked text := 'masked_' || p_schema;
    cols text[] := '{}';
    stations text[] := '{}';
    personal boolean := false;
    -- a reader without a scope row (the owner, an engineer, an analyst bound to nothing):
    -- no Vars, so the planner evaluates it once, as a one-time filter
    unscoped constant text := 'not (current_user::text in (select z.login from meta.login_scope z '
                              'where z.station is not null or z.county is not null))';
    in_scope text;
    body text;
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
    -- A person's number in the modelled layers is looked up by its hash: index it (a rebuilt
    -- table comes without). The ODS tables are read in bulk, not person by person.
    if p_schema <> 'ods' and exists (select 1 from meta.column_class where schema_name = p_schema
                                     and relation = p_relation and column_name = 'gmsfhm' and pii = 'idcard' and hash_index)
       and exists (select 1 from pg_class where oid = base and relkind in ('r', 'm', 'p'))
       and to_regclass(format('%I.%I', p_schema, left(p_relation, 50) || '__id_hash')) is null then
        execute format('create index %I on %s (meta.pii_hash(gmsfhm::text))',
                       left(p_relation, 50) || '__id_hash', base);
        -- an expression index has no statistics until the table is analysed again: without them
        -- the planner guesses 0.5 % of the rows per hash and sends a one-row lookup to parallel
        -- workers (1M persons: 4.7 ms instead of 0.6)
        execute format('analyze %s', base);
    end if;
    execute format('drop view if exists %I.%I cascade', masked, p_relation);
    if cardinality(cols) = 0 then
        return null;
    end if;
    body := format('select %s from %s t', array_to_string(cols, ', '), base);
    if cardinality(stations) > 0 then
        select string_agg(format('t.%I in (select w.station from meta.login_station w '
                                 'where w.login = current_user::text)', s), ' or ')
          into in_scope from unnest(stations) s;
        body := format('%1$s where %2$s union all %1$s where %3$s', body, unscoped, in_scope);
    elsif personal then
        body := format('%s where %s', body, unscoped);  -- no station to judge by: unscoped readers only
    end if;  -- else nothing personal: counts and codes, the same for every jurisdiction
    execute format('create view %I.%I with (security_barrier = true) as %s', masked, p_relation, body);
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
