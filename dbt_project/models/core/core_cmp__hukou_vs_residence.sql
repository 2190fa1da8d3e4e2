{#- Incremental, one row per person following core_person (macros/incremental/follow_person.sql). -#}
{{ dz_follow_person_config() }}

-- 数据比对: persons whose hukou address (户籍地) and residence (居住地, actual population) differ,
-- classed by how far apart they are. Persons with only one of the two are not compared.
with persons as (
    select * from {{ ref('core_person') }}
    where {{ dz_keys_filter('gmsfhm') }} and is_hukou and is_actual and hj_xzqhdm is not null and jz_xzqhdm is not null
),

compared as (
    select
        *,
        case
            when hj_xzqhdm <> jz_xzqhdm then 'cross_division'
            when hj_dzbm is distinct from jz_dzbm then 'same_division'
        end as cmp_type
    from persons
),

final as (
    select
        gmsfhm,
        xm,
        cmp_type,
        case cmp_type when 'cross_division' then '户籍地与居住地不在同一县级行政区划'
                      else '户籍地与居住地同区县但地址不同' end as cmp_desc,
        hj_dzbm, hj_link, hj_xzqhdm,
        jz_dzbm, jz_link, jz_xzqhdm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at,
        sy_batch_id, sy_file, sy_line, sy_msg_id, sy_seq,
        now() as _built_at
    from compared
    where cmp_type is not null
)

select * from final
