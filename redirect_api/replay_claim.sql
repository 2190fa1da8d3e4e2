-- Claim a jti: a row comes back when this caller is the first (or the previous claim expired);
-- nothing comes back for a live duplicate. Concurrent claims of one jti serialise on the key,
-- so exactly one of them wins.
insert into meta.redirect_replay as r (jti, expires_at)
values (%(jti)s, to_timestamp(%(expires_at)s))
on conflict (jti) do update set expires_at = excluded.expires_at
    where r.expires_at < now()
returning r.jti
