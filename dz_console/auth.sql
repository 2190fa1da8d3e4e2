-- name: candidate
-- The stored hash of a login and whether it may sign in (enabled, in one of the console's groups).
select p.hash, coalesce(r.rolcanlogin and exists (
           select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
           where m.member = r.oid and g.rolname = any(%(groups)s)), false)
from (select %(login)s::text as login) l
left join console.password p on p.login = l.login
left join pg_roles r on r.rolname = l.login
where p.login is not null or r.rolname is not null;

-- name: open
-- A new session; expired ones of anyone are removed on the way (sessions are few).
with gone as (delete from console.session where expires_at < now())
insert into console.session (token_hash, login, expires_at, client_addr)
values (%(token_hash)s, %(login)s, now() + make_interval(secs => %(ttl_s)s), %(client)s);

-- name: session
select s.login, g.rolname::text, sc.station, sc.county, s.expires_at
from console.session s
join pg_roles r on r.rolname = s.login and r.rolcanlogin
join pg_auth_members m on m.member = r.oid
join pg_roles g on g.oid = m.roleid and g.rolname = any(%(groups)s)
left join meta.login_scope sc on sc.login = s.login
where s.token_hash = %(token_hash)s and s.expires_at > now()
order by g.rolname
limit 1;
