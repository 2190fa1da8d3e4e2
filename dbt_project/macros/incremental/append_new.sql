{#- Incremental strategy `dz_append_new`, for a table that mostly grows (the person track): the
    run's rows are inserted with ON CONFLICT DO NOTHING on the unique key, so the unique index's
    own probe finds an id that is already there. delete+insert instead deleted by a semi-join of
    the run's rows to the whole table (elem_person_track at 5.5M persons: 838k new gate records
    against ~29M rows, 111 s of a 224 s daily run). An id already there (its ODS row changed
    after the run that read it: rare) replaces its row, as delete+insert would, and the replaced
    row's value of `dz_replaced_key` (the person) goes to the replaced log <model>__replaced, so
    that a model aggregating this table by increments recounts that person (elem_person). The
    log is kept by dz_replaced_log() in the model's hooks. -#}
{% macro get_incremental_dz_append_new_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set stem = target.identifier -%}
    create temporary table {{ stem }}__inserted on commit drop as select {{ key }} from {{ source }} limit 0;
    with inserted as (
        insert into {{ target }} ({{ cols }})
        select {{ cols }} from {{ source }}
        on conflict ({{ key }}) do nothing
        returning {{ key }}
    )
    insert into {{ stem }}__inserted select {{ key }} from inserted;
    create temporary table {{ stem }}__again on commit drop as
    select * from {{ source }} s where not exists (select 1 from {{ stem }}__inserted i where i.{{ key }} = s.{{ key }});
    insert into {{ dz_replaced_log(target) }} (key)
    select {{ config.require('dz_replaced_key') }} from {{ target }} where {{ key }} in (select {{ key }} from {{ stem }}__again);
    delete from {{ target }} where {{ key }} in (select {{ key }} from {{ stem }}__again);
    insert into {{ target }} ({{ cols }}) select {{ cols }} from {{ stem }}__again
{%- endmacro %}

{% macro dz_replaced_log(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__replaced
{%- endmacro %}

{#- Hooks of a `dz_append_new` model: the replaced log exists (pre); a full build replaced every
    row and logs a NULL key (post), as the entity change logs do (macros/incremental/incremental.sql). -#}
{% macro dz_replaced_log_hook(when) -%}
    {%- if when == 'pre' %}
    create table if not exists {{ dz_replaced_log(this) }} (key text, replaced_at timestamptz not null default now());
    {{ dz_bookkeeping_comment(dz_replaced_log(this), this.identifier ~ ' 中被重投记录替换的行所属主键（key）及时间，全量构建记一行空主键；按增量汇总的下游模型据此重算。') }}
    {%- elif not is_incremental() %}
    truncate {{ dz_replaced_log(this) }};
    insert into {{ dz_replaced_log(this) }} (key) values (null)
    {%- endif %}
{%- endmacro %}
