-- GB 11643 in SQL agrees with hand-checked numbers (the first is the standard's own example).
with cases(raw, expected_id, expected_issue) as (
    values
        ('11010519491231002X', '11010519491231002X', null),
        ('11010519491231002x', '11010519491231002X', null),
        ('511702800101001',    '511702198001010015', null),
        ('511702196505260019', '511702196505260019', null),
        ('511702196505260010', '511702196505260010', 'check'),
        ('51172519900229002X', '51172519900229002X', 'birth'),
        ('511702199013010019', '511702199013010019', 'birth'),
        ('991702196505260019', '991702196505260019', 'region'),
        ('51170219650526001',  '51170219650526001',  'format'),
        ('',                   null,                 'missing')
),

checked as (
    select raw, expected_id, expected_issue, {{ normalize_idcard('raw') }} as got_id
    from cases
)

select *, {{ idcard_issue('got_id') }} as got_issue
from checked
where got_id is distinct from expected_id
   or {{ idcard_issue('got_id') }} is distinct from expected_issue
