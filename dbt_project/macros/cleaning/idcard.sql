{#- GB 11643 citizen ID numbers, in SQL: the one implementation the models use (the Python twin
    for the synthetic city lives in dz_assets/synth/idcard.py).

    normalize_idcard: trim, full-width digits/letters to ASCII, inner blanks out, x -> X, and a
    15-digit number of before 1999 (no century, no check digit) upgraded to 18 digits (19 + check).
    idcard_check_char: the check character of the first 17 digits (weights 2^(17-i) mod 11).
    idcard_issue: null when valid, else the first rule broken (format / region / birth / check). -#}

{% macro idcard_weights() -%}
    {{ return([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]) }}
{%- endmacro %}

{% macro idcard_check_char(id17) -%}
    substr('10X98765432', (
        {%- for w in idcard_weights() %}
        {{ w }} * substr({{ id17 }}, {{ loop.index }}, 1)::int{% if not loop.last %} +{% endif %}
        {%- endfor %}
    ) % 11 + 1, 1)
{%- endmacro %}

{% macro normalize_idcard(col) -%}
    {%- set cleaned -%}
        upper(regexp_replace(translate({{ col }}, '０１２３４５６７８９ｘＸ', '0123456789XX'), '\s', '', 'g'))
    {%- endset -%}
    {#- fast path: an 18-character number already in canonical form (almost every row) is
        returned as is, without the translate/regexp_replace of the cleaning below. The test is
        ^[0-9]{17}[0-9X]$ without a regular expression: 18 bytes of which the leading digits
        leave nothing or a final X. The regular expression cost 1.9 µs a row, this 0.9 µs (one
        core; 10 s against 4.6 s over the 5.1M access records of the 1M-person city, which the
        rule models' activity table cleans on every run). -#}
    (case
        when octet_length({{ col }}) = 18 and ltrim({{ col }}, '0123456789') in ('', 'X') then {{ col }}
        when {{ cleaned }} ~ '^[0-9]{15}$'
            then substr({{ cleaned }}, 1, 6) || '19' || substr({{ cleaned }}, 7, 9)
                 || {{ idcard_check_char("(substr(" ~ cleaned ~ ", 1, 6) || '19' || substr(" ~ cleaned ~ ", 7, 9))") }}
        else nullif({{ cleaned }}, '')
    end)
{%- endmacro %}

{#- Province prefixes of GB/T 2260 (11 Beijing … 82 Macao); region = a real province, and a
    prefecture/county part that is not 00 (no person is registered at province level). -#}
{% macro idcard_issue(id) -%}
    (case
        when {{ id }} is null then 'missing'
        when {{ id }} !~ '^[0-9]{17}[0-9X]$' then 'format'
        when substr({{ id }}, 1, 2) not in ('11','12','13','14','15','21','22','23','31','32','33','34',
            '35','36','37','41','42','43','44','45','46','50','51','52','53','54','61','62','63','64',
            '65','71','81','82') or substr({{ id }}, 3, 4) = '0000' then 'region'
        when substr({{ id }}, 7, 4)::int < 1900
            or substr({{ id }}, 11, 2)::int not between 1 and 12
            or substr({{ id }}, 13, 2)::int < 1
            or substr({{ id }}, 13, 2)::int > extract(day from (
                make_date(substr({{ id }}, 7, 4)::int, substr({{ id }}, 11, 2)::int, 1)
                + interval '1 month - 1 day'))
            then 'birth'
        when make_date(substr({{ id }}, 7, 4)::int, substr({{ id }}, 11, 2)::int,
                       substr({{ id }}, 13, 2)::int) > current_date then 'birth'
        when substr({{ id }}, 18, 1) <> {{ idcard_check_char(id) }} then 'check'
    end)
{%- endmacro %}

{% macro idcard_birth(id) -%}
    (case when {{ idcard_issue(id) }} is null
        then make_date(substr({{ id }}, 7, 4)::int, substr({{ id }}, 11, 2)::int, substr({{ id }}, 13, 2)::int)
    end)
{%- endmacro %}

{#- GB 11643: the 17th digit is odd for men (GB/T 2261.1 code 1), even for women (2). -#}
{% macro idcard_sex(id) -%}
    (case when {{ id }} ~ '^[0-9]{17}' then (case when substr({{ id }}, 17, 1)::int % 2 = 1 then '1' else '2' end) end)
{%- endmacro %}

{#- The live rows of a person register (hukou or actual population) with their normalised ID
    number, computed once per row (OFFSET 0 keeps the planner from pasting the expression into
    each of the ~30 places the GB 11643 check reads it). `id_filter` (a query of normalised ID
    numbers) keeps only those IDs' rows, found through the register's index on the normalised
    ID (dz_ods_idcard_index): the filter was a scan of the whole register otherwise. -#}
{% macro stg_person_source(relation, id_filter=none) -%}
select o.*, n.gmsfhm_norm
from {{ relation }} o
cross join lateral (select {{ normalize_idcard('o.gmsfhm') }} as gmsfhm_norm offset 0) n
where not o._deleted
{%- if id_filter %}
  and {{ normalize_idcard('o.gmsfhm') }} in ({{ id_filter }})
{%- endif %}
{%- endmacro %}

{#- Pre-hook of a model that looks a person register's rows up by normalised ID number (core_person's
    daily run: a few thousand IDs among millions of rows): an index on the expression. Like the
    _loaded_at index (macros/incremental/incremental.sql), the ODS DDL does not carry it and a FULL swaps in
    a table without it; the full build that follows builds it again. -#}
{% macro dz_ods_idcard_index(src) -%}
    create index if not exists {{ src.identifier }}__gmsfhm_norm on {{ src }} (({{ normalize_idcard('gmsfhm') }}))
{%- endmacro %}
