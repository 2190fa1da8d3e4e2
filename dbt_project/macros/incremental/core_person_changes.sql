{#- The ID numbers core_person recomputes in an incremental run (see the model's head). -#}
{% macro core_person_changed_ids() -%}
{%- if not is_incremental() -%}{{ return('') }}{%- endif -%}
{%- set since = dz_changed_since(this) -%}
{%- set hukou_src = source('ods', 'hz_hjrkjbxx') -%}
{%- set actual_src = source('ods', 'ybss_syrkxx') -%}
{%- set address_srcs = [source('ods', 'ybss_bzdzjlxxx'), source('ods', 'ybss_bzdzmlxx'), source('ods', 'ybss_bzdzchxx')] -%}
{%- set house_src = source('ods', 'ybss_syfwxx') -%}

    {%- if dz_full_load_since(this) %}
    select gmsfhm as key from {{ ref('stg_ods__hz_hjrkjbxx') }} where gmsfhm is not null
    union select gmsfhm from {{ ref('stg_ods__ybss_syrkxx') }} where gmsfhm is not null
    union select gmsfhm from {{ this }}
    {%- else %}
    select {{ normalize_idcard('gmsfhm') }} as key from {{ hukou_src }} where _loaded_at > {{ since }} and gmsfhm is not null
    union select {{ normalize_idcard('gmsfhm') }} from {{ actual_src }} where _loaded_at > {{ since }} and gmsfhm is not null
    union select t.gmsfhm from {{ this }} t join {{ hukou_src }} o on t.rybh = trim(o.rybh) where o._loaded_at > {{ since }}
    union select t.gmsfhm from {{ this }} t join {{ actual_src }} o on t.syrkbh = trim(o.syrkbh) where o._loaded_at > {{ since }}
    {%- if dz_any_changed(address_srcs, since) %}
    union (
        with changed as (
            {%- for src in address_srcs %}
            select {{ normalize_dzbm('dzbm') }} as dzbm, {{ normalize_address('dzmc') }} as dzmc_norm
            from {{ src }} where _loaded_at > {{ since }}
            {% if not loop.last %}union all{% endif %}
            {%- endfor %}
        ),
        codes as (  -- the changed addresses and those below them (police station inherited)
            select a.dzbm from {{ ref('core_address') }} a
            where a.dzbm in (select dzbm from changed) or a.ml_dzbm in (select dzbm from changed)
               or a.jlx_dzbm in (select dzbm from changed)
            union select dzbm from changed where dzbm is not null
            union select h.dzbm from {{ ref('core_house') }} h where h.dz_link = 'name'
        )
        select t.gmsfhm from {{ this }} t
        where t.hj_dzbm in (select dzbm from codes) or t.jz_dzbm in (select dzbm from codes)
           or t.hj_dzbm_src in (select dzbm from codes) or t.jz_dzbm_src in (select dzbm from codes)
           or (t.hj_link is distinct from 'code'
               and {{ normalize_address('t.hj_dzmc_src') }} in (select dzmc_norm from changed))
    )
    {%- endif %}
    {%- if dz_any_changed([house_src], since) %}
    union (
        with changed as (
            select trim(fwbh) as fwbh, {{ normalize_dzbm('dzbm') }} as dzbm from {{ house_src }}
            where _loaded_at > {{ since }}
        )
        select t.gmsfhm from {{ this }} t
        where t.fwbh in (select fwbh from changed)
           or t.jz_dzbm in (select dzbm from changed union select dzbm from {{ ref('core_house') }}
                            where fwbh in (select fwbh from changed))
    )
    {%- endif %}
    {%- endif %}

{%- endmacro %}

{#- Second pre-hook: the changed IDs' hukou and actual-population survivors, cleaned and ranked
    by the staging models' own SQL restricted to them (dz_staged_persons), as temporary tables with statistics, so that the
    model's joins to core_address/core_house are planned for a few hundred rows, not a million. -#}
{% macro core_person_staged_pre() -%}
    {%- if is_incremental() %}
    {%- set ids = 'select key from ' ~ this.identifier ~ '__changed' %}
    create temporary table {{ this.identifier }}__hukou on commit drop as
    select * from ({{ dz_staged_persons('stg_ods__hz_hjrkjbxx', ids) }}) stg where is_survivor and gmsfhm is not null;
    create temporary table {{ this.identifier }}__actual on commit drop as
    select * from ({{ dz_staged_persons('stg_ods__ybss_syrkxx', ids) }}) stg where is_survivor and gmsfhm is not null;
    analyze {{ this.identifier }}__hukou;
    analyze {{ this.identifier }}__actual;
    {%- endif %}
{%- endmacro %}

{#- core_person's place log: the hukou and residence address codes of the persons a run
    recomputed, as they were before it (pre-hook) and after (post-hook), so that the models
    counting persons per address (elem_place) recompute the addresses a person left as well as
    those they came to. A full build logs a NULL code (every address). -#}
{% macro core_person_place_log() -%}
    {{ ref('core_person').schema }}.core_person__places
{%- endmacro %}

{% macro core_person_places(when) -%}
    {%- set log = this.schema ~ '.' ~ this.identifier ~ '__places' -%}
    {%- if when == 'pre' %}
    create table if not exists {{ log }} (dzbm text, changed_at timestamptz not null default now());
    create index if not exists {{ this.identifier }}__places_at on {{ log }} (changed_at);
    {{ dz_bookkeeping_comment(log, '实有人口每次增量运行涉及的地址编码（迁出与迁入），供地点要素（elem_place）重算，全量构建记一行空值。') }};
    {%- endif %}
    {%- if is_incremental() %}
    insert into {{ log }} (dzbm)
    select hj_dzbm from {{ this }} where gmsfhm in (select key from {{ this.identifier }}__changed) and hj_dzbm is not null
    union select jz_dzbm from {{ this }} where gmsfhm in (select key from {{ this.identifier }}__changed) and jz_dzbm is not null;
    {%- elif when == 'post' %}
    truncate {{ log }};
    insert into {{ log }} (dzbm) values (null);
    {%- endif %}
{%- endmacro %}

{#- A person staging model's SQL (its raw code, rendered here) with `id_filter` (a query of
    normalised ID numbers) in place of the model's `{% set id_filter = none %}`: one definition of
    the cleaning and survivorship, run on a few IDs. A model without that line is an error. -#}
{% macro dz_staged_persons(model_name, id_filter) -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ model_name] -%}
    {%- set marker = '{' ~ '%- set id_filter = none %' ~ '}' -%}
    {%- if marker not in node.raw_code -%}
        {{ exceptions.raise_compiler_error(model_name ~ ' has no `' ~ marker ~ '` line for dz_staged_persons') }}
    {%- endif -%}
    {{ render(node.raw_code.replace(marker, '{' ~ '%- set id_filter = "' ~ id_filter ~ '" %' ~ '}')) }}
{%- endmacro %}
