{{ config(meta={'rule': {'code': 'ZX03', 'name': '迁（流）出市外人员居住轨迹满足注销规则模型',
                         'vars': ['zx03_days']}}) }}
-- ZX03: moved out (HZ_QHCXX, QCRQ <= D) to a division outside Dazhou, still an active 实有人口
-- row at a Dazhou address, and no track activity in Dazhou in the zx03_days before D. "In
-- Dazhou": an address whose division starts 5117, or one not in the address tables.
with moves as (
    select {{ normalize_idcard('gmsfhm') }} as gmsfhm, trim(ywlsh) as ywlsh, qcrq, qwdxzqhdm
    from {{ source('ods', 'hz_qhcxx') }}
    where not _deleted and qcrq <= {{ mdl_as_of() }}
      and qwdxzqhdm is not null and qwdxzqhdm not like '5117%'
),

addresses as (
    {{ mdl_addresses() }}
),

residents as (
    select r.*
    from ({{ mdl_active_residents() }}) r
    left join addresses ad on ad.dzbm = r.jzdz_dzbm
    where ad.dzbm is null or ad.xzqhdm like '5117%'
),

activity as (
    select t.*
    from ({{ mdl_track_activity(mdl_window_start(var('zx03_days')), 'moves') }}) t
    left join addresses ad on ad.dzbm = t.dzbm
    where ad.dzbm is null or ad.xzqhdm like '5117%'
),

{{ mdl_part_silent('moves', 'residents', 'activity') }},

move_evidence as (
    select gmsfhm, jsonb_agg({{ mdl_evidence('HZ_QHCXX', [('YWLSH', 'ywlsh')],
               [('GMSFHM', 'gmsfhm'), ('QCRQ', 'qcrq'), ('QWDXZQHDM', 'qwdxzqhdm')]) }} order by ywlsh) as evidence
    from moves where gmsfhm in (select gmsfhm from silent)
    group by gmsfhm
),

{{ mdl_part_silent_findings('ZX03', 'residents', 'move_evidence', var('zx03_days'), 'IN_DAZHOU_RECORDS') }}

select * from final
