{#- Post-hook of the table layers: ANALYZE as autovacuum's autoanalyze would decide it. A table
    model is new on every run and always analysed; an incremental one on a daily run only when
    the rows changed since its last ANALYZE reach 10 % of the table (+ 50), autoanalyze's
    default rule. ANALYZE samples 30k rows at random: on elem_person_track at Dazhou's size
    (29M rows, not all in memory) that was 37 s of random reads in a daily run that added 3 %.
    The run's own writes are not yet in pg_stat_user_tables inside its transaction: they count
    towards the next run's decision. -#}
{% macro dz_analyze() -%}
{%- if model.config.materialized == 'incremental' and is_incremental() -%}
do $dz_analyze$
begin
    if (select c.reltuples < 0 or coalesce(s.n_mod_since_analyze, 0) >= 0.1 * c.reltuples + 50
        from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
        where c.oid = '{{ this.include(database=false) }}'::regclass) then
        analyze {{ this.include(database=false) }};
    end if;
end
$dz_analyze$
{%- else -%}
analyze {{ this }}
{%- endif -%}
{%- endmacro %}
