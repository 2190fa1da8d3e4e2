-- name: insert
insert into meta.finding_review (finding_id, model_code, rule_version, subject_gmsfhm, subject_dzbm,
                                 evidence_hash, as_of, verdict, note, reviewer)
select f.finding_id, f.model_code, f.rule_version, f.subject_gmsfhm, f.subject_dzbm, f.evidence_hash, f.as_of,
       %(verdict)s, %(note)s, %(reviewer)s
from model.mdl_findings f
where f.finding_id = %(finding_id)s
returning review_id, finding_id, model_code, rule_version, as_of, verdict, reviewer, reviewed_at;

-- name: precision
select model_code, rule_version, reviewed, confirmed, false_positive, precision
from model.mdl_rule_precision
order by model_code, rule_version;
