-- name: raise
-- One open alert per (code, subject): a repeat counts and moves last_seen; a new fault, or one
-- that returns after its alert resolved, inserts a row. Muted by a silence: recorded, not posted.
insert into meta.alert as a (severity, source, code, subject, message, details, silence_id)
values (%(severity)s, %(source)s, %(code)s, %(subject)s, %(message)s, %(details)s,
        (select s.silence_id from meta.alert_silence s
         where s.code in (%(code)s, '*') and (s.subject is null or s.subject = %(subject)s)
           and s.until > now()
         order by s.until desc limit 1))
on conflict (code, (coalesce(subject, ''))) where resolved_at is null do update
    set count = a.count + 1, last_seen = now(), severity = excluded.severity,
        message = excluded.message, details = excluded.details
returning alert_id, count;

-- name: resolve
update meta.alert set resolved_at = now()
where resolved_at is null and code = %(code)s
  and (%(subject)s::text is null or subject = %(subject)s)
returning alert_id;

-- name: resolve_cleared
-- The open alerts of a kind whose subject is no longer among the faults a sensor just found.
update meta.alert set resolved_at = now()
where resolved_at is null and code = %(code)s and not (coalesce(subject, '') = any(%(failing)s))
returning alert_id;

-- name: claim
-- Due, undelivered alerts, leased to one sender for a while (attempts counted up front, so a
-- sender that dies mid-post only delays the next try); the lease commits before any network.
with due as (
    select a.alert_id from meta.alert a
    where not a.delivered and a.next_attempt_at <= now() and a.attempts < %(max_attempts)s
      and not exists (select 1 from meta.alert_silence s
                      where s.code in (a.code, '*')
                        and (s.subject is null or s.subject = a.subject) and s.until > now())
      and (a.silence_id is null or a.resolved_at is null)
    order by a.alert_id
    limit %(limit)s
    for update skip locked
)
update meta.alert a set attempts = a.attempts + 1,
       next_attempt_at = now() + make_interval(secs => %(lease_s)s)
from due where a.alert_id = due.alert_id
returning a.alert_id, a.code, a.severity, a.source, a.subject, a.message, a.details, a.raised_at,
          a.last_seen, a.count, a.resolved_at, a.attempts;

-- name: delivered
update meta.alert set delivered = true, last_error = null where alert_id = %(alert_id)s;

-- name: failed
-- Exponential backoff: 10 s, 20 s, 40 s … capped at one hour.
update meta.alert set last_error = %(error)s,
       next_attempt_at = now() + make_interval(secs => least(3600, 10 * power(2, greatest(attempts - 1, 0))))
where alert_id = %(alert_id)s;

-- name: next_due
select extract(epoch from min(next_attempt_at) - now()) from meta.alert
where not delivered and attempts < %(max_attempts)s;

-- name: list
select alert_id, code, severity, source, subject, message, details, raised_at, last_seen, count,
       acked_by, acked_at, resolved_at, delivered, silence_id
from meta.alert
where (not %(open_only)s or resolved_at is null)
order by last_seen desc
limit %(limit)s;

-- name: ack
-- resolve: for faults that are events with nothing to clear them (poison messages, a recovered
-- load): the operator's acknowledgement closes the alert, and the next such event opens a new one.
update meta.alert set acked_by = %(by)s, acked_at = now(),
       resolved_at = case when %(resolve)s then coalesce(resolved_at, now()) else resolved_at end
where alert_id = %(alert_id)s
returning alert_id;

-- name: silence
insert into meta.alert_silence (code, subject, until, reason, created_by)
values (%(code)s, %(subject)s, %(until)s, %(reason)s, %(by)s)
returning silence_id;

-- name: silences
select silence_id, code, subject, until, reason, created_by, created_at
from meta.alert_silence where until > now() order by until;

-- name: open_since
-- The open alert a process raised about this subject since a time (a run's own fault).
select alert_id from meta.alert
where resolved_at is null and subject = %(subject)s and last_seen >= %(since)s
order by last_seen desc limit 1;
