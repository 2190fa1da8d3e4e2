{#- The rule layer's base tables kept by increments (mdl_base__activity, mdl_base__hukou,
    mdl_base__residents): they hold every row of their ODS sources whatever its date, and the
    macros that read them (mdl_track_activity, mdl_access, mdl_hukou, mdl_active_residents)
    keep the rows dated on or before the evaluation day D. Being the same for every D, a daily
    run only replaces the rows of the ODS rows loaded since the table's last build, found by
    their _loaded_at (the loader and every CDC apply set it, deletes included), instead of
    cleaning the whole history again (the activity table alone: 28.6M access records at 5.5M
    persons, 56-76 s of a run). Each row carries its ODS row's primary key as written (_pk)
    and, where a table has several sources, the source's table code (tbl).

    One decision per build, taken when the model is compiled (mdl_base_plan), and carried out
    by SQL rendered in that same compilation: mdl_base_header writes it into the compiled SQL
    as a comment, and the build's pre-hook (mdl_base_prepared) runs what the comment holds, so
    that the rows the build selects and the rows its preparation deleted never disagree (a hook
    is rendered again at run time, when the warehouse may have moved):
    - full: the table is new or empty (the server's crash recovery empties unlogged tables),
      its SQL changed since it was built (a new release), a FULL package was loaded since (a
      swap replaces a table without a trace of the rows it dropped), or one of the inputs
      named `full_on` changed (the communities every access record is placed by);
    - changes: otherwise; the rows of the ODS rows changed since are deleted and built again.

    "Since" is the build's watermark (<model>__build): the start of the oldest transaction open
    in the database when the build began reading, or that moment itself. A loader's rows carry
    its transaction's start as _loaded_at and become visible only at its commit, so a
    transaction still open then is read again by the next build, however long it ran. -#}

{#- The bookkeeping table beside a base model: its last build's watermark and SQL digest. -#}
{% macro mdl_base_build_log(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__build
{%- endmacro %}

{#- Digest of a model's SQL as written and of every project macro it calls, however deep: a
    change of either is a new release of the table's rows. -#}
{% macro mdl_base_code(node) -%}
    {%- set parts = [node.raw_code] -%}
    {%- set todo = node.depends_on.macros | list -%}
    {%- set seen = [] -%}
    {%- for m in todo if m.startswith('macro.dz_hub.') and m not in seen -%}
        {%- do seen.append(m) -%}
        {%- set mac = dz_hub[m.split('.')[-1]].macro -%}
        {%- do parts.append('--macro ' ~ m ~ '\n' ~ mac.macro_sql) -%}
        {%- do todo.extend(mac.depends_on.macros) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\n'))) }}
{%- endmacro %}

{#- The build's decision (compile time): {'mode': 'full' | 'changes', 'since': literal}. -#}
{% macro mdl_base_plan(full_on=[]) -%}
    {%- set full = {'mode': 'full', 'since': "'-infinity'::timestamptz"} -%}
    {%- if not execute or not is_incremental() or flags.FULL_REFRESH -%}{{ return(full) }}{%- endif -%}
    {%- set log = mdl_base_build_log(this) -%}
    {%- if not run_query("select to_regclass('" ~ log ~ "') is not null").columns[0].values()[0] -%}
        {{ return(full) }}
    {%- endif -%}
    {%- set q -%}
        select b.built_at::text, b.code,
               exists (select 1 from {{ this }}) as filled,
               exists (select 1 from meta.batch
                       where kind = 'FULL' and status in ('loaded', 'applied') and finished_at >= b.built_at) as full_since
        from {{ log }} b
    {%- endset -%}
    {%- set rows = run_query(q).rows -%}
    {%- if rows | length != 1 -%}{{ return(full) }}{%- endif -%}
    {%- set r = rows[0] -%}
    {%- if r[1] != mdl_base_code(model) or not r[2] or r[3] -%}{{ return(full) }}{%- endif -%}
    {%- set since = "'" ~ r[0] ~ "'::timestamptz" -%}
    {%- if full_on -%}
        {%- set q -%}
            select {% for r in full_on %}exists (select 1 from {{ r }} where _loaded_at >= {{ since }}){% if not loop.last %} or {% endif %}{% endfor %}
        {%- endset -%}
        {%- if run_query(q).columns[0].values()[0] -%}{{ return(full) }}{%- endif -%}
    {%- endif -%}
    {{ return({'mode': 'changes', 'since': since}) }}
{%- endmacro %}

{#- A base model's sources, as mdl_base_prepare reads them: a list of
    {'tbl': its table code in a table of several sources (else none), 'relations': the ODS
    tables it reads, 'pk': the key column of its single relation, or none for a small source
    rebuilt whole when any of its rows changed (a few thousand cases, tracks, visits). -#}

{#- The SQL header of a base model's build, given its plan and sources. Records the watermark
    first; then, for a full build of an existing table, empties it and drops its indexes (built
    again after the insert, faster than kept up row by row); for changes, lists in the temporary
    table <model>__changed (tbl, pk) the keys of the rows changed since the last build (a null pk:
    the whole source) and deletes their rows; the build then selects them again (mdl_base_changed).
    The keys are deleted through an index on _pk (made on the first run that needs it: a full
    build does not): a hash join instead read the whole table, 15 s of the activity table's 29M
    rows for a day's 838k access records, nearly all of them new. Nested loops are off for the
    rest of the build: the day's rows are past the ODS table's statistics, which plan them as one
    row and probed the 838k changed keys once per row (23 s; by hash, 2 s). -#}
{% macro mdl_base_prepare(plan, sources) -%}
    {%- set stem = this.identifier -%}
    create temporary table {{ stem }}__mark on commit drop as
    select least(now(), (select min(xact_start) from pg_stat_activity
                         where datname = current_database() and pid <> pg_backend_pid())) as watermark,
           '{{ plan.mode }}'::text as mode;
    {%- if plan.mode == 'full' and is_incremental() %}
    do $dz_base$
    declare i regclass;
    begin
        for i in select indexrelid::regclass from pg_index where indrelid = '{{ this }}'::regclass loop
            execute format('drop index %s', i);
        end loop;
    end
    $dz_base$;
    truncate {{ this }};
    {%- elif plan.mode == 'changes' %}
    {%- for s in sources if s.pk %}
    {{ mdl_base_loaded_at_index(s.relations[0]) }};
    {%- endfor %}
    create temporary table {{ stem }}__changed on commit drop as
    {%- for s in sources %}
    {%- if s.pk %}
    select {{ mdl_base_tbl(s) }} as tbl, {{ s.pk }}::text as pk from {{ s.relations[0] }} where _loaded_at >= {{ plan.since }}
    {%- else %}
    select {{ mdl_base_tbl(s) }}, null::text
    where {% for r in s.relations %}exists (select 1 from {{ r }} where _loaded_at >= {{ plan.since }}){% if not loop.last %} or {% endif %}{% endfor %}
    {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %};
    analyze {{ stem }}__changed;
    create index if not exists {{ stem }}___pk on {{ this }} (_pk);
    {%- for s in sources %}
    {%- if s.pk %}
    delete from {{ this }}
    where _pk = any(array(select pk from {{ stem }}__changed where tbl is not distinct from {{ mdl_base_tbl(s) }}))
        {%- if s.tbl %} and tbl = {{ mdl_base_tbl(s) }}{% endif %};
    {%- else %}
    delete from {{ this }} where tbl = {{ mdl_base_tbl(s) }}
        and exists (select 1 from {{ stem }}__changed where tbl = {{ mdl_base_tbl(s) }} and pk is null);
    {%- endif %}
    {%- endfor %}
    set local enable_nestloop = off;
    {%- endif %}
{%- endmacro %}

{#- In the model's SQL: the preparation its plan calls for, as a comment the pre-hook runs. -#}
{% macro mdl_base_header(plan, sources) -%}
/* mdl_base prepare:
{{ mdl_base_prepare(plan, sources) }}
:mdl_base prepare */
{%- endmacro %}

{#- Pre-hook, inside the build's transaction: the preparation the compiled SQL holds. -#}
{% macro mdl_base_prepared() -%}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    {%- set found = modules.re.search('/[*] mdl_base prepare:\n(.*)\n:mdl_base prepare [*]/', compiled_code or '', modules.re.S) -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error(this.identifier ~ ': no mdl_base_header in the compiled SQL') }}
    {%- endif -%}
    {{ found.group(1) }}
{%- endmacro %}

{#- The _loaded_at index of a keyed source, so that its keys changed are a range of it instead
    of a scan of millions of rows. The ODS DDL has none and a FULL swaps in a table without it.
    Made only when missing: CREATE INDEX locks out the loaders' writes until the build commits,
    which IF NOT EXISTS would do on every run. -#}
{% macro mdl_base_loaded_at_index(relation) -%}
    do $dz_base$
    begin
        if to_regclass('{{ relation.schema }}.{{ relation.identifier }}__loaded_at') is null then
            {{ dz_ods_loaded_at_index(relation) }};
        end if;
    end
    $dz_base$
{%- endmacro %}

{% macro mdl_base_tbl(s) -%}
    {{ "'" ~ s.tbl ~ "'::text" if s.tbl else 'null::text' }}
{%- endmacro %}

{#- Filter of a source's rows in the build: every row (full), else those of the keys changed
    since (`pk`, the source's key column as written; a row committed after the keys were listed
    is left to the next build, which its _loaded_at reaches) or, for a source rebuilt whole (no pk),
    all of them when any changed, none otherwise (a one-time filter: the plan reads nothing then). -#}
{% macro mdl_base_changed(plan, source, pk=none) -%}
    {%- if plan.mode != 'changes' -%}
    true
    {%- elif source.pk -%}
    _loaded_at >= {{ plan.since }}
    and {{ pk or source.pk }} in (select pk from {{ this.identifier }}__changed where tbl is not distinct from {{ mdl_base_tbl(source) }})
    {%- else -%}
    exists (select 1 from {{ this.identifier }}__changed where tbl = {{ mdl_base_tbl(source) }} and pk is null)
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: the build's watermark and SQL digest are recorded, the indexes built (again),
    and the table analysed after every build. -#}
{% macro mdl_base_finish(indexes) -%}
    {%- set log = mdl_base_build_log(this) -%}
    create table if not exists {{ log }} (built_at timestamptz not null, code text not null, mode text not null);
    {{ dz_bookkeeping_comment(log, this.identifier ~ ' 上次构建：水位（built_at，此后入库的源行由下次运行增量处理）、SQL 摘要（code，变化即全量重建）与方式（mode：full 全量，changes 增量）。') }};
    delete from {{ log }};
    insert into {{ log }} select watermark, '{{ mdl_base_code(model) }}', mode from {{ this.identifier }}__mark;
    {%- for cols in indexes %}
    create index if not exists {{ this.identifier }}__{{ cols | join('_') }} on {{ this }} ({{ cols | join(', ') }});
    {%- endfor %}
    {#- Always, though a day's changes are a few per cent of the table: the rules read the newest
        days, which lie beyond the histogram of the last ANALYZE. The planner would count one row
        for day D and join it by nested loop (YJ01's entries at 5.5M persons: over 20 min, where
        current statistics give 5 s); sampling costs 0.3 s. -#}
    analyze {{ this }}
{%- endmacro %}
