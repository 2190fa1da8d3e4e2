{#- The SQL of stg_ods__ybss_syrkxx; `id_filter` (a query of normalised ID numbers) restricts it to the
    rows of those IDs before survivorship is ranked, so that core_person's daily run cleans and
    ranks only the persons it recomputes (a filter on the view would be applied after the
    window, i.e. after cleaning every row). -#}
{% macro stg_actual_persons(id_filter=none) -%}
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
{%- endmacro %}
