{#- Incremental, one row per person following core_person (macros/incremental/follow_person.sql). -#}
{{ dz_follow_person_config() }}

-- 流动人口 detail: one row per person living in Dazhou (actual population) who is registered
-- as 流动人口 (RYLB 2) or whose hukou is outside Dazhou.
with persons as (
    select * from {{ ref('core_person') }}
    where {{ dz_keys_filter('gmsfhm') }} and is_actual and (rylbdm = '2' or (hj_xzqhdm is not null and not hj_in_dazhou))
),

final as (
    select
        gmsfhm, xm, xbdm, csrq, rylbdm, rylbmc, syrkbh, sy_djrq,
        hj_xzqhdm,
        case when hj_xzqhdm like '51%' then 'in_province' when hj_xzqhdm is not null then 'out_of_province' end as origin,
        left(hj_xzqhdm, 2) || '0000'              as origin_province,
        jz_dzbm, jz_xzqhdm, jz_gajgjgdm, fwbh,
        id_valid,
        sy_batch_id as _batch_id, sy_file as _file, sy_line as _line, sy_msg_id as _msg_id, sy_seq as _seq,
        _loaded_at,
        now() as _built_at
    from persons
)

select * from final
