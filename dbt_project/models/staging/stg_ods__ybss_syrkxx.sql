-- Actual population registrations, cleaned. Survivorship per ID number: not cancelled
-- (ZXBS 0) first, then the latest registration day, then the latest change / load.
{{ stg_actual_persons() }}
