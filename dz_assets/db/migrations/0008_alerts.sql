-- Alerts are faults, not events: one open alert per (code, subject), counted; it resolves when
-- its fault clears, and a fault that returns after that opens a new one. Webhook delivery is an
-- outbox drained with retries and backoff (never on the raiser's transaction), and a silence
-- mutes a kind (and subject) until a time, with its reason.

alter table meta.alert add column if not exists last_seen timestamptz;
alter table meta.alert add column if not exists count int not null default 1;
alter table meta.alert add column if not exists acked_by text;
alter table meta.alert add column if not exists acked_at timestamptz;
alter table meta.alert add column if not exists resolved_at timestamptz;
alter table meta.alert add column if not exists silence_id bigint;
alter table meta.alert add column if not exists attempts int not null default 0;
alter table meta.alert add column if not exists next_attempt_at timestamptz not null default now();
alter table meta.alert add column if not exists last_error text;
update meta.alert set last_seen = raised_at where last_seen is null;
alter table meta.alert alter column last_seen set default now();
alter table meta.alert alter column last_seen set not null;

-- Alerts raised before dedupe: only the newest of each (code, subject) stays open.
update meta.alert a set resolved_at = a.last_seen
where exists (select 1 from meta.alert b
              where b.code = a.code and b.subject is not distinct from a.subject and b.alert_id > a.alert_id);

create unique index if not exists alert_open_once on meta.alert (code, (coalesce(subject, '')))
    where resolved_at is null;
create index if not exists alert_undelivered on meta.alert (next_attempt_at)
    where not delivered and silence_id is null;

comment on column meta.alert.raised_at is '首次发生时间';
comment on column meta.alert.last_seen is '最近一次发生时间';
comment on column meta.alert.count is '同一故障（原因 + 对象）在告警未恢复期间发生的次数';
comment on column meta.alert.acked_by is '确认人';
comment on column meta.alert.acked_at is '确认时间';
comment on column meta.alert.resolved_at is '恢复时间：故障消除后自动填写；为空即未恢复';
comment on column meta.alert.silence_id is '发生时命中的屏蔽规则（命中则不推送 Webhook）';
comment on column meta.alert.delivered is '已推送到 DZ_ALERT_WEBHOOK';
comment on column meta.alert.attempts is 'Webhook 推送尝试次数';
comment on column meta.alert.next_attempt_at is '下一次推送尝试时间（指数退避）';
comment on table meta.alert is '告警：每个故障一行（原因、对象、级别、说明、首次/最近发生时间、次数、确认人与时间、恢复时间）';

create table if not exists meta.alert_silence (
    silence_id  bigserial primary key,
    code        text not null,             -- the alert kind muted ('*': every kind)
    subject     text,                      -- null: every subject of the kind
    until       timestamptz not null,
    reason      text not null,
    created_by  text not null,
    created_at  timestamptz not null default now()
);
comment on table meta.alert_silence is '告警屏蔽：在截止时间前不推送某类（及某对象）的告警，并记录原因与操作人';
