with source as (
    select * from {{ source('ods', 'ybss_syfwxx') }} where not _deleted
),

renamed as (
    select
        trim(fwbh)                              as fwbh,
        {{ normalize_dzbm('dzbm') }}            as dzbm,
        nullif(trim(dzmc), '')                  as dzmc,
        {{ normalize_address('dzmc') }}         as dzmc_norm,
        fwlbdm,
        fwytdm,
        jzmj,
        {{ normalize_idcard('fzgmsfhm') }}      as fzgmsfhm,
        nullif(regexp_replace(fzxm, '\s', '', 'g'), '') as fzxm,
        coalesce(czbs, '0')                     as czbs,
        xzqhdm,
        nullif(trim(gajgjgdm), '')              as gajgjgdm,
        djsj,
        gxsj,
        coalesce(zxbs, '0')                     as zxbs,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
),

final as (
    select
        r.*,
        {{ idcard_issue('r.fzgmsfhm') }} as fz_id_issue,
        lb.name as fwlbmc,
        yt.name as fwytmc
    from renamed r
    left join {{ ref('stg_meta__code_table') }} lb on lb.dict = 'FWLB' and lb.code = r.fwlbdm
    left join {{ ref('stg_meta__code_table') }} yt on yt.dict = 'FWYT' and yt.code = r.fwytdm
)

select * from final
