-- name: day
-- review_status from the subject's latest review: suppressed (false positive, same rule version and
-- evidence), confirmed (open until fixed), fixed (on or before this day), else open. last_seen is
-- the subject's latest day in the history (one probe of its index).
select f.finding_id, f.model_code, f.model_name, f.rule_version, f.as_of, f.subject_gmsfhm, f.subject_xm,
       f.subject_dzbm, f.xzqhdm, f.gajgjgdm, f.evidence, f.first_seen,
       (select max(h.as_of) from model.mdl_findings h where h.subject_key = f.subject_key) as last_seen,
       case
           when r.verdict = 'false_positive' and r.rule_version = f.rule_version
                and r.evidence_hash = f.evidence_hash then 'suppressed'
           when r.verdict = 'confirmed' then 'confirmed'
           when r.verdict = 'fixed' and r.as_of >= f.as_of then 'fixed'
           else 'open'
       end as review_status
from model.mdl_findings f
left join lateral (
    select verdict, rule_version, evidence_hash, as_of
    from meta.finding_review v
    where v.model_code = f.model_code
      and v.subject_gmsfhm is not distinct from f.subject_gmsfhm
      and v.subject_dzbm is not distinct from f.subject_dzbm
    order by v.reviewed_at desc, v.review_id desc
    limit 1
) r on true
where f.as_of = %(as_of)s and (%(model)s::text is null or f.model_code = %(model)s::text)
  and (%(suppressed)s or r.verdict is distinct from 'false_positive' or r.rule_version <> f.rule_version
       or r.evidence_hash <> f.evidence_hash)
order by f.model_code, f.subject_gmsfhm nulls first, f.subject_dzbm nulls first;

-- name: per_station
select model_code, xzqhdm, gajgjgdm, count(*)
from model.mdl_findings
where as_of = %s
group by 1, 2, 3
order by 1, 2, 3;
