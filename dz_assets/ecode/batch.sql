-- name: register_daily
-- A day's batch replaces the day's earlier one (a provisional batch, or a re-run).
insert into meta.qr_batch as b (kind, day, count, sha256, path, generated_at, provisional, verified, figures,
                                pdf_path, pdf_sha256)
values ('daily', %(day)s, %(count)s, %(sha256)s, %(path)s, now(), %(provisional)s, %(verified)s, %(figures)s,
        %(pdf_path)s, %(pdf_sha256)s)
on conflict (day) where kind = 'daily' do update set
    count = excluded.count, sha256 = excluded.sha256, path = excluded.path, generated_at = excluded.generated_at,
    provisional = excluded.provisional, verified = excluded.verified, figures = excluded.figures,
    pdf_path = excluded.pdf_path, pdf_sha256 = excluded.pdf_sha256
returning id

-- name: register_reprint
insert into meta.qr_batch (kind, day, count, sha256, path, provisional, verified, figures, pdf_path, pdf_sha256,
                           dzbm)
values ('reprint', null, %(count)s, %(sha256)s, %(path)s, false, %(verified)s, %(figures)s, %(pdf_path)s,
        %(pdf_sha256)s, %(codes)s)
returning id

-- name: register_chunk
insert into meta.qr_batch as b (kind, day, count, sha256, path, provisional, verified, figures, chunk, scope,
                                pdf_path, pdf_sha256)
values ('first_issue', %(day)s, %(count)s, %(sha256)s, %(path)s, false, %(verified)s, %(figures)s, %(chunk)s,
        %(scope)s, %(pdf_path)s, %(pdf_sha256)s)
on conflict (scope, chunk) where kind = 'first_issue' do update set
    day = excluded.day, count = excluded.count, sha256 = excluded.sha256, path = excluded.path,
    generated_at = now(), verified = excluded.verified, figures = excluded.figures,
    pdf_path = excluded.pdf_path, pdf_sha256 = excluded.pdf_sha256
returning id

-- name: done_chunks
-- The first issue's chunks already delivered, with the addresses each holds (by digest).
select chunk, figures->>'addresses_sha256', path from meta.qr_batch where kind = 'first_issue' and scope = %(scope)s

