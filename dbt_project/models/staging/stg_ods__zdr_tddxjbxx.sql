with source as (
    select * from {{ source('ods', 'zdr_tddxjbxx') }} where not _deleted
),

final as (
    select
        trim(tddxbh)                            as tddxbh,
        {{ normalize_idcard('gmsfhm') }}        as gmsfhm,
        nullif(regexp_replace(xm, '\s', '', 'g'), '') as xm,
        xbdm,
        csrq,
        hjdz_xzqhdm,
        nullif(trim(hjdz_dzmc), '')             as hjdz_dzmc,
        {{ normalize_dzbm('jzdz_dzbm') }}       as jzdz_dzbm,
        jzdz_xzqhdm,
        nullif(trim(jzdz_dzmc), '')             as jzdz_dzmc,
        {{ normalize_address('jzdz_dzmc') }}    as jzdz_dzmc_norm,
        nullif(trim(gkgajgjgdm), '')            as gkgajgjgdm,
        lrsj,
        coalesce(zxbs, '0')                     as zxbs,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
