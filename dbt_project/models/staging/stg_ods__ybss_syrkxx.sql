-- Actual population registrations, cleaned. Survivorship per ID number: not cancelled
-- (ZXBS 0) first, then the latest registration day, then the latest change / load.
-- core_person's daily run renders this same SQL with the ID numbers it recomputes as
-- id_filter (dz_staged_persons, macros/incremental/core_person_changes.sql): the filter
-- goes into the source, before survivorship is ranked (on the view it would come after the
-- window, i.e. after cleaning every row).
{%- set id_filter = none %}
with source as (
    {{ stg_person_source(source('ods', 'ybss_syrkxx'), id_filter) | indent(4) }}
),

renamed as (
    select
        trim(syrkbh)                                as syrkbh,
        gmsfhm                                      as gmsfhm_raw,
        gmsfhm_norm                                 as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        rylbdm,
        {{ normalize_dzbm('jzdz_dzbm') }}           as jzdz_dzbm,
        jzdz_xzqhdm,
        djrq,
        coalesce(zxbs, '0')                         as zxbs,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
),

ranked as (
    select
        *,
        {{ idcard_issue('gmsfhm') }} as id_issue,
        row_number() over (
            partition by gmsfhm
            order by (zxbs = '0') desc, djrq desc nulls last, _seq desc nulls last, _loaded_at desc, syrkbh desc
        ) = 1 as is_survivor,
        count(*) over (partition by gmsfhm) as id_rows,
        max(_loaded_at) over (partition by gmsfhm) as id_loaded_at
    from renamed
),

final as (
    select r.*, lb.name as rylbmc
    from ranked r
    left join {{ ref('stg_meta__code_table') }} lb on lb.dict = 'RYLB' and lb.code = r.rylbdm
)

select * from final
