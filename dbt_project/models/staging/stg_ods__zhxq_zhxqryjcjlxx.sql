-- Community gate records (the largest daily table: ~4 per resident of a smart community per
-- day), read by the incremental track model, which filters on _loaded_at before this view's
-- expressions run.
with source as (
    select * from {{ source('ods', 'zhxq_zhxqryjcjlxx') }} where not _deleted
),

final as (
    select
        trim(jlbh)                              as jlbh,
        {{ normalize_dzbm('xqbm') }}            as xqbm,
        {{ normalize_idcard('gmsfhm') }}        as gmsfhm,
        crsj,
        crfxdm,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at
    from source
)

select * from final
