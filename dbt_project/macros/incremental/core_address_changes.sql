{#- The address codes core_address recomputes in an incremental run (macros/incremental/incremental.sql):
    the codes of the standard-address rows loaded or changed since the last build (deletes
    included), their children (a 门楼/层户 under a changed code: parent found or lost, police
    station inherited) and the 层户 under a changed 街路巷 (station inherited from the
    grandparent); every code after a FULL load or a new catalogue (code-table names). -#}
{% macro core_address_changed_codes() -%}
{%- if not is_incremental() -%}{{ return('') }}{%- endif -%}
{%- set srcs = [source('ods', 'ybss_bzdzjlxxx'), source('ods', 'ybss_bzdzmlxx'), source('ods', 'ybss_bzdzchxx')] -%}
{%- set since = dz_changed_since(this) -%}
    {%- if dz_full_load_since(this) or dz_catalogue_synced_since(this) %}
    select dzbm as key from {{ ref('stg_ods__ybss_bzdzjlxxx') }} where dzbm is not null
    union select dzbm from {{ ref('stg_ods__ybss_bzdzmlxx') }} where dzbm is not null
    union select dzbm from {{ ref('stg_ods__ybss_bzdzchxx') }} where dzbm is not null
    union select dzbm from {{ this }}
    {%- else %}
    with changed as materialized (
        {%- for src in srcs %}
        select {{ normalize_dzbm('dzbm') }} as dzbm from {{ src }} where _loaded_at > {{ since }}
        {% if not loop.last %}union{% endif %}
        {%- endfor %}
    )
    select dzbm as key from changed where dzbm is not null
    union select dzbm from {{ this }} where sjdzbm in (select dzbm from changed)
    union select dzbm from {{ this }} where jlx_dzbm in (select dzbm from changed)
    {%- endif %}
{%- endmacro %}

{#- True when the catalogue and code tables were synced after the relation's last build
    (compile time): names decoded from code tables may have changed for every row. -#}
{% macro dz_catalogue_synced_since(relation) -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set q -%}
        select exists (select 1 from meta.catalogue_sync where synced_at > {{ dz_last_build(relation) }})
    {%- endset -%}
    {{ return(run_query(q).columns[0].values()[0]) }}
{%- endmacro %}
