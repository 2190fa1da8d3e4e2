"""The rule models (spec/rule-models.md) seen from Python: run them for a day through dbt, read
their findings, mask what analysts may not see. The rules themselves are dbt models
(dbt_project/models/model/); nothing here knows Dagster."""
