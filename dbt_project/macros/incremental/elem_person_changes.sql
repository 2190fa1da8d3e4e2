{#- elem_person, incremental (macros/incremental/incremental.sql): the person facts drawn from the small
    inputs (labels, GABF register, units represented, houses owned, disputes, cases), one row per
    ID number that has any; both the model and its change detection read them. -#}
{% macro elem_person_facts() -%}
    with labels as (
        select gmsfhm, array_agg(distinct bqdm order by bqdm) as bq_codes, max(_loaded_at) as _loaded_at
        from {{ ref('stg_ods__zdr_zazdrbqryxx') }}
        where zxbs = '0' and (yxqzrq is null or yxqzrq >= current_date) and gmsfhm is not null
        group by gmsfhm
    ),
    gabf as (
        select gmsfhm, max(_loaded_at) as _loaded_at from {{ ref('stg_ods__zdr_tddxjbxx') }}
        where zxbs = '0' and gmsfhm is not null group by gmsfhm
    ),
    units as (
        select fddbrgmsfhm as gmsfhm, count(*) as unit_count from {{ ref('core_unit') }}
        where is_active and fddbrgmsfhm is not null group by 1
    ),
    owned as (
        select fzgmsfhm as gmsfhm, count(*) as house_count from {{ ref('core_house') }}
        where is_active and fzgmsfhm is not null group by 1
    ),
    disputes as (
        select gmsfhm, count(distinct jfbh) as dispute_count, max(_loaded_at) as _loaded_at
        from {{ ref('stg_ods__ezc_mdjffxyhdsrxx') }} where gmsfhm is not null group by 1
    ),
    cases as (
        select sarygmsfhm as gmsfhm, count(*) as case_count, max(_loaded_at) as _loaded_at
        from {{ ref('stg_ods__ybss_ajxx') }} where sarygmsfhm is not null group by 1
    ),
    ids as (
        select gmsfhm from labels union select gmsfhm from gabf union select gmsfhm from units
        union select gmsfhm from owned union select gmsfhm from disputes union select gmsfhm from cases
    )
    select
        i.gmsfhm,
        coalesce(o.house_count, 0)                     as owned_house_count,
        coalesce(u.unit_count, 0)                      as represented_unit_count,
        coalesce(l.bq_codes, '{}')                     as bq_codes,
        g.gmsfhm is not null                           as is_gabf,
        coalesce(d.dispute_count, 0)                   as dispute_count,
        coalesce(c.case_count, 0)                      as case_count,
        greatest(l._loaded_at, g._loaded_at, d._loaded_at, c._loaded_at) as _loaded_at
    from ids i
    left join labels l on l.gmsfhm = i.gmsfhm
    left join gabf g on g.gmsfhm = i.gmsfhm
    left join units u on u.gmsfhm = i.gmsfhm
    left join owned o on o.gmsfhm = i.gmsfhm
    left join disputes d on d.gmsfhm = i.gmsfhm
    left join cases c on c.gmsfhm = i.gmsfhm
{%- endmacro %}

{#- Pre-hook: the persons to recompute — those core_person recomputed, those with tracks built
    since their row or replaced (elem_person_track's replaced log), those whose facts differ from what is stored here (a label expired or moved to another ID,
    a unit's representative changed, …), and those whose age in years changed since — go into a
    temporary table; their rows here are deleted. -#}
{% macro elem_person_changes_pre() -%}
    {%- if is_incremental() %}
    create temporary table {{ this.identifier }}__changed on commit drop as
    with logged as ({{ dz_entity_changes(ref('core_person')) }}),
    fresh as ({{ elem_person_facts() }}),
    stored as (
        select gmsfhm, owned_house_count, represented_unit_count, bq_codes, is_gabf, dispute_count, case_count,
               _changed_at, age, csrq
        from {{ this }} where {{ elem_person_has_facts() }}
        union
        -- an age in years changes on a birthday (29 February's in March of a common year): only
        -- the persons born on a day of the year passed since the last build are looked at
        select gmsfhm, owned_house_count, represented_unit_count, bq_codes, is_gabf, dispute_count, case_count,
               _changed_at, age, csrq
        from {{ this }}
        where {{ elem_person_birthday() }} in (
                  select date_part('month', d::date) * 100 + date_part('day', d::date)
                  from generate_series(greatest(({{ dz_last_build(this) }})::date - 1, current_date - 366),
                                       current_date, interval '1 day') d
                  union select 229)
          and age is distinct from date_part('year', age(current_date, csrq))::int
    )
    {{ dz_all_keys('logged', ref('core_person'), 'gmsfhm') }}
    union
    select gmsfhm from {{ ref('elem_person_track') }} where _built_at > {{ dz_newest_load(this, column='_built_at') }}
    union
    select key from {{ dz_replaced_log(ref('elem_person_track')) }} where key is not null and replaced_at > {{ dz_last_build(this) }}
    union
    select gmsfhm from {{ this }}
    where exists (select 1 from {{ dz_replaced_log(ref('elem_person_track')) }} where key is null and replaced_at > {{ dz_last_build(this) }})
    union
    select coalesce(f.gmsfhm, s.gmsfhm)
    from fresh f
    full join stored s on s.gmsfhm = f.gmsfhm
    where (f.owned_house_count, f.represented_unit_count, f.bq_codes, f.is_gabf, f.dispute_count, f.case_count)
              is distinct from (s.owned_house_count, s.represented_unit_count, s.bq_codes, s.is_gabf,
                                s.dispute_count, s.case_count)
       or f._loaded_at > s._changed_at
       or s.age is distinct from date_part('year', age(current_date, s.csrq))::int;
    analyze {{ this.identifier }}__changed;
    {{ elem_person_seen_pre() }}
    delete from {{ this }} where gmsfhm in (select key from {{ this.identifier }}__changed);
    {%- endif %}
{%- endmacro %}


{#- The rows of elem_person with facts from the small inputs, and the day of the year a person
    was born (MMDD): both indexed, so that the daily change detection reads a few thousand rows
    instead of every person. -#}
{% macro elem_person_has_facts() -%}
    (owned_house_count > 0 or represented_unit_count > 0 or bq_codes <> '{}' or is_gabf or dispute_count > 0 or case_count > 0)
{%- endmacro %}

{% macro elem_person_birthday() -%}
    (date_part('month', csrq) * 100 + date_part('day', csrq))
{%- endmacro %}


{#- The track figures (last sighting, count) of the persons to recompute, as stored before their
    rows are deleted: a person's new figures are the stored ones plus the tracks built since the
    row was (elem_person_track._built_at), instead of all of their history again (at 5.5M persons
    ~420k persons are seen a day, with ~29M tracks). Every track built after a person's row puts
    the person into the next run's changed set, so the tracks built since the row are those
    built since this table's last build. A person without a stored row, or one of whose tracks
    was replaced since (a re-delivered record, or a full rebuild of the track: NULL key), is
    counted from all of their tracks (`recount`). -#}
{% macro elem_person_seen_pre() -%}
    {%- set replaced = dz_replaced_log(ref('elem_person_track')) %}
    create temporary table {{ this.identifier }}__seen on commit drop as
    select e.gmsfhm, e.last_seen_at, e.track_count, e._built_at,
           coalesce(r.replaced_at > e._built_at, false) or coalesce(a.replaced_at > e._built_at, false) as recount
    from {{ this }} e
    left join (select key, max(replaced_at) as replaced_at from {{ replaced }} where key is not null group by 1) r
           on r.key = e.gmsfhm
    cross join (select max(replaced_at) as replaced_at from {{ replaced }} where key is null) a
    where e.gmsfhm in (select key from {{ this.identifier }}__changed);
    analyze {{ this.identifier }}__seen;
    -- the few persons counted from all their tracks, with statistics: planned as a guess (an
    -- EXCEPT of two ~420k-row tables at 5.5M persons), the set may be taken for hundreds of
    -- thousands of persons and the whole track read instead of its gmsfhm index
    create temporary table {{ this.identifier }}__recount on commit drop as
    select key from {{ this.identifier }}__changed except select gmsfhm from {{ this.identifier }}__seen where not recount;
    analyze {{ this.identifier }}__recount;
{%- endmacro %}

{#- The model's track figures in a daily run (see elem_person_seen_pre). -#}
{% macro elem_person_seen_daily() -%}
    {%- set seen = this.identifier ~ '__seen' %}
    select s.gmsfhm, greatest(s.last_seen_at, n.last_seen_at) as last_seen_at,
           s.track_count + coalesce(n.track_count, 0) as track_count
    from {{ seen }} s
    left join (
        select t.gmsfhm, max(t.trk_time) as last_seen_at, count(*) as track_count
        from {{ ref('elem_person_track') }} t
        join {{ seen }} s on s.gmsfhm = t.gmsfhm and t._built_at > s._built_at
        where t._built_at > {{ dz_newest_load(this, column='_built_at') }}
        group by 1
    ) n on n.gmsfhm = s.gmsfhm
    where not s.recount
    union all
    select gmsfhm, max(trk_time), count(*)
    from {{ ref('elem_person_track') }}
    where gmsfhm in (select key from {{ this.identifier }}__recount)
    group by 1
{%- endmacro %}
