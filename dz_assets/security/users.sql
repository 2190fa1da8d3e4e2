-- name: logins
-- Login roles in a dz-hub group role, with their jurisdiction in this database. Group roles
-- themselves (dz_officer is in dz_analyst) are not logins.
select r.rolname::text as name, g.rolname::text as role, r.rolcanlogin as enabled,
       s.station, s.county
from pg_roles r
join pg_auth_members m on m.member = r.oid
join pg_roles g on g.oid = m.roleid
left join meta.login_scope s on s.login = r.rolname
where g.rolname = any(%(groups)s) and not r.rolname = any(%(groups)s)
order by r.rolname, g.rolname

-- name: is_station
select exists (select 1 from meta.code_table where dict = 'GAJG' and code = %(code)s and parent is not null
               and code not like '%%000000')

-- name: is_county
select exists (select 1 from meta.code_table where dict = 'GB/T 2260' and code = %(code)s and parent = '511700')
