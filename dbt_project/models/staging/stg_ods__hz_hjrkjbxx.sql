-- Hukou persons, cleaned. Survivorship (one row per ID number among duplicates): a person in
-- normal status (RYZT 1) first, then the latest registration time, then the latest change
-- sequence / load; the losers stay visible (is_survivor = false) for the duplicate anomaly rule.
-- core_person's daily run renders this same SQL with the ID numbers it recomputes as
-- id_filter (dz_staged_persons, macros/incremental/core_person_changes.sql): the filter
-- goes into the source, before survivorship is ranked (on the view it would come after the
-- window, i.e. after cleaning every row).
{%- set id_filter = none %}
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
