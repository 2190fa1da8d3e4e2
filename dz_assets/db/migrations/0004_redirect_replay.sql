-- Replay memory of the doorplate receiver (spec/ecode-redirect.md): every receiver process
-- records each token's jti here until the token expires; "insert if absent" decides races.
create table if not exists meta.redirect_replay (
    jti        text primary key,
    expires_at timestamptz not null
);
create index if not exists redirect_replay_expires_at on meta.redirect_replay (expires_at);
comment on table meta.redirect_replay is '门牌接收端防重放记录：每个已使用的令牌编号（jti）一行，保留至令牌过期';
comment on column meta.redirect_replay.jti is '令牌编号（16位十六进制）';
comment on column meta.redirect_replay.expires_at is '过期时间：此后该令牌本身已失效，记录可清除';
