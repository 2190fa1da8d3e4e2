{#- Incremental by changed ID number (macros/incremental/incremental.sql): a daily run recomputes the persons
    whose hukou or actual-population rows were loaded or changed since the last build (under
    their ID now and the ID their row had here before), and, on a day when standard addresses
    or houses changed, the persons linked to them; everyone after a FULL load. Known gap until
    the next full refresh: a duplicate (non-survivor) hukou row whose ID number is corrected
    leaves hukou_rows of its old ID one too high. The hukou and residence addresses of the
    recomputed persons, before and after, go to a place log (core_person_places) for elem_place;
    the indexes on them serve its per-address counts. -#}
{{ config(
    materialized='incremental',
    unique_key='gmsfhm',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['gmsfhm'], 'unique': true}, {'columns': ['rybh']}, {'columns': ['syrkbh']}, {'columns': ['_built_at']},
             {'columns': ['jz_dzbm']}, {'columns': ['hj_dzbm']}],
    pre_hook=["{{ dz_ods_loaded_at_index(source('ods', 'hz_hjrkjbxx')) }}", "{{ dz_ods_loaded_at_index(source('ods', 'ybss_syrkxx')) }}",
              "{{ dz_ods_idcard_index(source('ods', 'hz_hjrkjbxx')) }}", "{{ dz_ods_idcard_index(source('ods', 'ybss_syrkxx')) }}",
              "{{ dz_changes_pre('gmsfhm', core_person_changed_ids()) }}", "{{ core_person_staged_pre() }}",
              "{{ core_person_places('pre') }}"],
    post_hook=["{{ dz_changes_post('gmsfhm') }}", "{{ core_person_places('post') }}"],
) }}
-- change detection also reads (macros/incremental/core_person_changes.sql):
-- depends_on: {{ source('ods', 'hz_hjrkjbxx') }}, {{ source('ods', 'ybss_syrkxx') }}, {{ source('ods', 'ybss_syfwxx') }}
-- depends_on: {{ source('ods', 'ybss_bzdzjlxxx') }}, {{ source('ods', 'ybss_bzdzmlxx') }}, {{ source('ods', 'ybss_bzdzchxx') }}
-- depends_on: {{ ref('stg_meta__code_table') }}

-- 实有人口: one row per normalised citizen ID number, joining the hukou register and the actual
-- population register (survivor rows of each, see staging), linked to the standard address
-- (hukou and residence) and to the house at the residence. Links go by address code where the
-- source has one that exists; a hukou address with no usable code is matched by its normalised
-- name when exactly one address carries that name (ambiguous names are left unlinked).
-- A daily run reads the changed IDs' rows, cleaned and ranked by the staging SQL restricted to
-- them (core_person_staged_pre).
with hukou as (
    {%- if is_incremental() %}
    select * from {{ this.identifier }}__hukou
    {%- else %}
    select * from {{ ref('stg_ods__hz_hjrkjbxx') }} stg where is_survivor and gmsfhm is not null
    {%- endif %}
),

actual as (
    {%- if is_incremental() %}
    select * from {{ this.identifier }}__actual
    {%- else %}
    select * from {{ ref('stg_ods__ybss_syrkxx') }} stg where is_survivor and gmsfhm is not null
    {%- endif %}
),

-- core_address is joined directly (not through a CTE read four times, which PostgreSQL
-- materialises without statistics and then plans as merge joins over disk sorts)
unique_names as (
    select dzmc_norm, min(dzbm) as dzbm
    from {{ ref('core_address') }}
    where dzmc_norm is not null
    {%- if is_incremental() %} and dzmc_norm in (select hjdz_dzmc_norm from hukou){% endif %}
    group by dzmc_norm
    having count(*) = 1
),

houses as (
    select distinct on (dzbm) dzbm, fwbh
    from {{ ref('core_house') }}
    where dzbm is not null
    order by dzbm, is_active desc, djsj desc nulls last, fwbh
),

persons as (
    select
        coalesce(h.gmsfhm, s.gmsfhm)                 as gmsfhm,
        h.gmsfhm is not null                         as is_hukou,
        coalesce(s.zxbs = '0', false)                as is_actual,
        case when h.gmsfhm is not null then h.id_issue else s.id_issue end as id_issue,
        h.rybh, h.xm as hj_xm, h.xbdm, h.xbmc, h.mzdm, h.csrq, h.hh, h.ryztdm, h.ryztmc, h.djsj as hj_djsj,
        h.hjdz_dzbm, h.hjdz_dzmc, h.hjdz_dzmc_norm, h.hjdz_xzqhdm,
        s.syrkbh, s.xm as sy_xm, s.rylbdm, s.rylbmc, s.jzdz_dzbm, s.jzdz_xzqhdm, s.djrq as sy_djrq,
        coalesce(h.id_rows, 0)                       as hukou_rows,
        h._batch_id as h_batch_id, h._file as h_file, h._line as h_line, h._msg_id as h_msg_id,
        h._seq as h_seq, h._loaded_at as h_loaded_at, h.id_loaded_at as h_id_loaded_at,
        s._batch_id as s_batch_id, s._file as s_file, s._line as s_line, s._msg_id as s_msg_id,
        s._seq as s_seq, s._loaded_at as s_loaded_at, s.id_loaded_at as s_id_loaded_at
    from hukou h
    full join actual s on s.gmsfhm = h.gmsfhm
),

linked as (
    select
        p.*,
        coalesce(hc.dzbm, hn.dzbm)                   as hj_dzbm,
        case when hc.dzbm is not null then 'code' when hn.dzbm is not null then 'name' end as hj_link,
        jc.dzbm                                      as jz_dzbm,
        case when jc.dzbm is not null then 'code' end as jz_link,
        coalesce(ha.xzqhdm, p.hjdz_xzqhdm)           as hj_xzqhdm,
        coalesce(jc.xzqhdm, p.jzdz_xzqhdm)           as jz_xzqhdm,
        jc.gajgjgdm                                  as jz_gajgjgdm,
        ha.gajgjgdm                                  as hj_gajgjgdm
    from persons p
    left join {{ ref('core_address') }} hc on hc.dzbm = p.hjdz_dzbm
    left join unique_names hn on hc.dzbm is null and hn.dzmc_norm = p.hjdz_dzmc_norm
    left join {{ ref('core_address') }} ha on ha.dzbm = coalesce(hc.dzbm, hn.dzbm)
    left join {{ ref('core_address') }} jc on jc.dzbm = p.jzdz_dzbm
),

final as (
    select
        l.gmsfhm,
        coalesce(l.hj_xm, l.sy_xm)                   as xm,
        coalesce(l.xbdm, {{ idcard_sex('l.gmsfhm') }}) as xbdm,
        -- validity comes from staging (one GB 11643 evaluation per row, not three)
        coalesce(l.csrq, case when l.id_issue is null then make_date(substr(l.gmsfhm, 7, 4)::int,
                 substr(l.gmsfhm, 11, 2)::int, substr(l.gmsfhm, 13, 2)::int) end) as csrq,
        l.id_issue,
        l.id_issue is null                           as id_valid,
        l.mzdm,
        l.is_hukou,
        l.is_actual,
        l.rybh,
        l.hh,
        l.ryztdm,
        l.ryztmc,
        l.hj_djsj,
        l.hukou_rows,
        l.syrkbh,
        l.rylbdm,
        l.rylbmc,
        l.sy_djrq,
        l.hjdz_dzbm                                  as hj_dzbm_src,
        l.hjdz_dzmc                                  as hj_dzmc_src,
        l.hj_dzbm,
        l.hj_link,
        l.hj_xzqhdm,
        l.hj_gajgjgdm,
        coalesce(l.hj_xzqhdm like '5117%', false)    as hj_in_dazhou,
        l.jzdz_dzbm                                  as jz_dzbm_src,
        l.jz_dzbm,
        l.jz_link,
        l.jz_xzqhdm,
        l.jz_gajgjgdm,
        hs.fwbh,
        -- lineage: the hukou row when the person has one, else the actual-population row
        case when l.rybh is not null then l.h_batch_id else l.s_batch_id end as _batch_id,
        case when l.rybh is not null then l.h_file else l.s_file end     as _file,
        case when l.rybh is not null then l.h_line else l.s_line end     as _line,
        case when l.rybh is not null then l.h_msg_id else l.s_msg_id end as _msg_id,
        case when l.rybh is not null then l.h_seq else l.s_seq end       as _seq,
        greatest(l.h_loaded_at, l.s_loaded_at)       as _loaded_at,
        greatest(l.h_id_loaded_at, l.s_id_loaded_at) as _changed_at,
        l.s_batch_id                                 as sy_batch_id,
        l.s_file                                     as sy_file,
        l.s_line                                     as sy_line,
        l.s_msg_id                                   as sy_msg_id,
        l.s_seq                                      as sy_seq,
        now()                                        as _built_at
    from linked l
    left join houses hs on hs.dzbm = l.jz_dzbm
)

select * from final
