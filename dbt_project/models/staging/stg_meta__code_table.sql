-- Code tables (sex, ethnicity, divisions, police stations …) mirrored by `dzhub db init`.
select dict, code, name, parent
from {{ source('meta', 'code_table') }}
