{#- Incremental, one row per person following core_person (macros/incremental/follow_person.sql). -#}
{{ dz_follow_person_config() }}

-- 户籍管理 detail: one row per person registered in a Dazhou hukou (any status), with the
-- hukou address as linked and the ODS row it came from.
with persons as (
    select * from {{ ref('core_person') }} where {{ dz_keys_filter('gmsfhm') }} and is_hukou and hj_in_dazhou
),

final as (
    select
        gmsfhm, xm, xbdm, csrq, mzdm, hh, rybh, ryztdm, ryztmc, hj_djsj,
        hj_dzbm_src, hj_dzmc_src, hj_dzbm, hj_link, hj_xzqhdm, hj_gajgjgdm,
        id_valid, id_issue, hukou_rows, is_actual, jz_xzqhdm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at,
        now() as _built_at
    from persons
)

select * from final
