-- name: latest_day
select as_of from model.mdl_rule_runs order by evaluated_at desc limit 1;

-- name: against_7d
-- The day's count per model beside the mean of the evaluated days among the 7 before it.
select d.model_code, d.findings, coalesce(avg(h.findings), 0) as mean_7d, count(h.as_of) as days
from model.mdl_rule_runs d
left join model.mdl_rule_runs h
  on h.model_code = d.model_code and h.as_of between d.as_of - 7 and d.as_of - 1
where d.as_of = %s
group by d.model_code, d.findings
order by d.model_code;
