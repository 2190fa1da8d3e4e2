-- Reviews of rule-model findings (spec/rule-models.md; issue 21 "Review and precision"): a police
-- station's verdict on a finding, kept with what it was a verdict on (model, rule version,
-- subject, evidence hash), so that a false positive stays suppressed for that rule version until
-- the evidence changes, and precision per model and version can be computed.

create table if not exists meta.finding_review (
    review_id       bigint generated always as identity primary key,
    finding_id      text not null,
    model_code      text not null,
    rule_version    text not null,
    subject_gmsfhm  text,
    subject_dzbm    text,
    evidence_hash   text not null,
    as_of           date not null,
    verdict         text not null check (verdict in ('confirmed', 'false_positive', 'fixed')),
    note            text,
    reviewer        text not null,
    reviewed_at     timestamptz not null default now()
);
create index if not exists finding_review__subject on meta.finding_review (model_code, subject_gmsfhm, subject_dzbm);
comment on table meta.finding_review is '模型发现复核：每条复核结论一行（confirmed 属实，false_positive 不属实，fixed 已整改；复核人、时间、备注，及所依据的规则版本与证据哈希）';
