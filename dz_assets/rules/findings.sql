-- name: day
select finding_id, model_code, model_name, rule_version, as_of, subject_gmsfhm, subject_xm, subject_dzbm,
       xzqhdm, gajgjgdm, evidence, first_seen, last_seen
from model.mdl_findings
where as_of = %(as_of)s and (%(model)s::text is null or model_code = %(model)s::text)
order by model_code, subject_gmsfhm nulls first, subject_dzbm nulls first;

-- name: per_station
select model_code, xzqhdm, gajgjgdm, count(*)
from model.mdl_findings
where as_of = %s
group by 1, 2, 3
order by 1, 2, 3;
