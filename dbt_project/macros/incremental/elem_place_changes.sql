{#- elem_place, incremental by address code (macros/incremental/incremental.sql): the place facts drawn from
    the small inputs (houses, units, disputes, cases), one row per address code that has any;
    both the model and its change detection read them. `codes` restricts them to the codes of
    a temporary table (the model's daily run). -#}
{% macro elem_place_small_facts(codes=none) -%}
    {%- set only = (' and dzbm in (select key from ' ~ codes ~ ')') if codes else '' -%}
    with houses as (
        select dzbm, count(*) as house_count, max(_loaded_at) as _loaded_at
        from {{ ref('core_house') }} where is_active and dzbm is not null{{ only }} group by 1
    ),
    units as (
        select zc_dzbm as dzbm, count(*) as unit_count, max(_loaded_at) as _loaded_at
        from {{ ref('core_unit') }} where is_active and zc_dzbm is not null{{ only | replace('dzbm in', 'zc_dzbm in') }}
        group by 1
    ),
    disputes as (
        select dzbm, count(*) as dispute_count, max(_loaded_at) as _loaded_at
        from {{ ref('stg_ods__ezc_mdjffxyhjbxx') }} where dzbm is not null{{ only }} group by 1
    ),
    cases as (
        select fadz_dzbm as dzbm, count(*) as case_count, max(_loaded_at) as _loaded_at
        from {{ ref('stg_ods__ybss_ajxx') }} where fadz_dzbm is not null{{ only | replace('dzbm in', 'fadz_dzbm in') }}
        group by 1
    ),
    codes as (
        select dzbm from houses union select dzbm from units union select dzbm from disputes union select dzbm from cases
    )
    select
        k.dzbm,
        coalesce(f.house_count, 0)      as house_count,
        coalesce(u.unit_count, 0)       as unit_count,
        coalesce(d.dispute_count, 0)    as dispute_count,
        coalesce(c.case_count, 0)       as case_count,
        greatest(f._loaded_at, u._loaded_at, d._loaded_at, c._loaded_at) as _loaded_at
    from codes k
    left join houses f on f.dzbm = k.dzbm
    left join units u on u.dzbm = k.dzbm
    left join disputes d on d.dzbm = k.dzbm
    left join cases c on c.dzbm = k.dzbm
{%- endmacro %}

{#- Pre-hook: the address codes to recompute — those core_address recomputed, the old and new
    addresses of the persons core_person recomputed (its place log), and those whose small facts
    differ from what is stored here or were loaded since — go into a temporary table; their rows
    here are deleted. -#}
{% macro elem_place_changes_pre() -%}
    {%- if is_incremental() %}
    create temporary table {{ this.identifier }}__changed on commit drop as
    with logged as (
        {{ dz_entity_changes(ref('core_address')) }}
        union all
        select dzbm from {{ core_person_place_log() }} where changed_at > {{ dz_changed_since(this) }}
    ),
    fresh as ({{ elem_place_small_facts() }}),
    stored as (
        select dzbm, house_count, unit_count, dispute_count, case_count, _changed_at from {{ this }}
        where house_count > 0 or unit_count > 0 or dispute_count > 0 or case_count > 0
    )
    {{ dz_all_keys('logged', ref('core_address'), 'dzbm') }}
    union
    select coalesce(f.dzbm, s.dzbm)
    from fresh f
    full join stored s on s.dzbm = f.dzbm
    where (f.house_count, f.unit_count, f.dispute_count, f.case_count)
              is distinct from (s.house_count, s.unit_count, s.dispute_count, s.case_count)
       or f._loaded_at > s._changed_at;
    analyze {{ this.identifier }}__changed;
    delete from {{ this }} where dzbm in (select key from {{ this.identifier }}__changed);
    {%- endif %}
{%- endmacro %}
