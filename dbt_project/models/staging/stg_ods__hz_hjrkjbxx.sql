-- Hukou persons, cleaned. Survivorship (one row per ID number among duplicates): a person in
-- normal status (RYZT 1) first, then the latest registration time, then the latest change
-- sequence / load; the losers stay visible (is_survivor = false) for the duplicate anomaly rule.
{{ stg_hukou_persons() }}
