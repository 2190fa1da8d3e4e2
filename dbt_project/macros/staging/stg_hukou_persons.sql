{#- The SQL of stg_ods__hz_hjrkjbxx; `id_filter` (a query of normalised ID numbers) restricts it to the
    rows of those IDs before survivorship is ranked, so that core_person's daily run cleans and
    ranks only the persons it recomputes (a filter on the view would be applied after the
    window, i.e. after cleaning every row). -#}
{% macro stg_hukou_persons(id_filter=none) -%}
with source as (
    {{ stg_person_source(source('ods', 'hz_hjrkjbxx'), id_filter) | indent(4) }}
),

renamed as (
    select
        trim(rybh)                                  as rybh,
        gmsfhm                                      as gmsfhm_raw,
        gmsfhm_norm                                 as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        xbdm,
        mzdm,
        csrq,
        nullif(trim(hh), '')                        as hh,
        yhzgxdm,
        {{ normalize_dzbm('hjdz_dzbm') }}           as hjdz_dzbm,
        hjdz_xzqhdm,
        nullif(trim(hjdz_dzmc), '')                 as hjdz_dzmc,
        {{ normalize_address('hjdz_dzmc') }}        as hjdz_dzmc_norm,
        ryztdm,
        djsj,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
),

checked as (
    select *, {{ idcard_issue('gmsfhm') }} as id_issue from renamed
),

ranked as (
    select
        *,
        row_number() over (
            partition by gmsfhm
            order by (ryztdm = '1') desc nulls last, djsj desc nulls last,
                     _seq desc nulls last, _loaded_at desc, rybh desc
        ) = 1 as is_survivor,
        count(*) over (partition by gmsfhm) as id_rows,
        max(_loaded_at) over (partition by gmsfhm) as id_loaded_at
    from checked
),

final as (
    select
        r.*,
        xb.name as xbmc,
        zt.name as ryztmc
    from ranked r
    left join {{ ref('stg_meta__code_table') }} xb on xb.dict = 'GB/T 2261.1' and xb.code = r.xbdm
    left join {{ ref('stg_meta__code_table') }} zt on zt.dict = 'RYZT' and zt.code = r.ryztdm
)

select * from final
{%- endmacro %}
