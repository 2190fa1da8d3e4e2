-- name: day_counts
select model_code, findings from model.mdl_rule_runs where as_of = %s order by model_code;
