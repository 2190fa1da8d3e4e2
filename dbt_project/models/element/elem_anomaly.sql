{{ config(
    materialized='incremental',
    unique_key='anomaly_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['anomaly_id'], 'unique': true}, {'columns': ['rule_code', 'is_open']}]
) }}

{#- The anomaly rules of the person, place and house element libraries: each checks every
    subject and says whether it fires. A daily run re-checks only the subjects whose element row
    changed since the newest _changed_at checked here (a few thousand of millions), inserts
    the ones that fire and closes (is_open = false) open anomalies that no longer do, or whose
    subject is gone; the first time an anomaly was found is kept across runs. Open anomalies are
    always re-checked: they can be resolved by a row other than the subject's own (one of two
    owners' houses deleted). -#}
{%- set rules = [
    {'code': 'RK01', 'name': '公民身份号码不符合 GB 11643（格式、地区码、出生日期或校验码）', 'subject': 'person', 'rel': 'elem_person', 'key': 'gmsfhm',
     'fires': 'not id_valid', 'detail': "'问题：' || coalesce(id_issue, '')"},
    {'code': 'RK02', 'name': '同一公民身份号码存在多条户籍登记', 'subject': 'person', 'rel': 'elem_person', 'key': 'gmsfhm',
     'fires': 'hukou_rows > 1', 'detail': "'户籍登记条数：' || hukou_rows"},
    {'code': 'RK03', 'name': '达州户籍人员的户籍地址无法关联标准地址', 'subject': 'person', 'rel': 'elem_person', 'key': 'gmsfhm',
     'fires': 'is_hukou and ryztdm = \'1\' and hj_in_dazhou and hj_dzbm is null', 'detail': "'户籍地行政区划：' || coalesce(hj_xzqhdm, '')"},
    {'code': 'RK04', 'name': '实有人口居住地址不在标准地址库', 'subject': 'person', 'rel': 'elem_person', 'key': 'gmsfhm',
     'fires': 'is_actual and jz_dzbm is null', 'detail': "'居住地行政区划：' || coalesce(jz_xzqhdm, '')"},
    {'code': 'RK05', 'name': '出生日期与公民身份号码不一致', 'subject': 'person', 'rel': 'elem_person', 'key': 'gmsfhm',
     'fires': 'id_valid and csrq is distinct from id_csrq', 'detail': "'登记：' || coalesce(csrq::text, '空') || '，号码：' || id_csrq"},
    {'code': 'RK06', 'name': '性别与公民身份号码不一致', 'subject': 'person', 'rel': 'elem_person', 'key': 'gmsfhm',
     'fires': "id_valid and xbdm in ('1', '2') and xbdm <> id_xbdm", 'detail': "'登记：' || xbdm || '，号码：' || id_xbdm"},
    {'code': 'DZ01', 'name': '地址无管辖派出所', 'subject': 'place', 'rel': 'elem_place', 'key': 'dzbm',
     'fires': 'gajgjgdm is null', 'detail': "'地址级别：' || dzjbdm"},
    {'code': 'DZ02', 'name': '上级地址不存在（层户无门楼或门楼无街路巷）', 'subject': 'place', 'rel': 'elem_place', 'key': 'dzbm',
     'fires': 'parent_missing', 'detail': "'地址级别：' || dzjbdm"},
    {'code': 'DZ03', 'name': '停用或注销地址仍登记有居住人口', 'subject': 'place', 'rel': 'elem_place', 'key': 'dzbm',
     'fires': 'not is_active and resident_count > 0', 'detail': "'居住人数：' || resident_count"},
    {'code': 'FW01', 'name': '一房多主：同一地址登记多个房主', 'subject': 'house', 'rel': 'elem_house', 'key': 'fwbh',
     'fires': 'is_active and owner_count_at_address > 1', 'detail': "'房主数：' || owner_count_at_address"},
    {'code': 'FW02', 'name': '房主公民身份号码无效', 'subject': 'house', 'rel': 'elem_house', 'key': 'fwbh',
     'fires': 'fzgmsfhm is not null and fz_id_issue is not null', 'detail': "'问题：' || fz_id_issue"},
    {'code': 'FW03', 'name': '房屋地址无法关联标准地址', 'subject': 'house', 'rel': 'elem_house', 'key': 'fwbh',
     'fires': 'dzbm is null', 'detail': "'房屋编号：' || fwbh"},
    {'code': 'FW04', 'name': '出租房屋无登记居住人员', 'subject': 'house', 'rel': 'elem_house', 'key': 'fwbh',
     'fires': 'is_active and is_rented and resident_count = 0', 'detail': "'地址编码：' || coalesce(dzbm, '')"},
] -%}

{#- the newest _changed_at checked here, as a literal: the element tables' _changed_at indexes
    find the few rows changed since (a subquery's value is planned as a third of the table) -#}
{%- set checked_up_to = dz_newest_load(this, column='_changed_at') if is_incremental() else none %}

with checked as (
    {%- for r in rules %}
    select
        '{{ r.code }}' || ':' || {{ r.key }}  as anomaly_id,
        '{{ r.code }}'                        as rule_code,
        '{{ r.name }}'                        as rule_name,
        '{{ r.subject }}'                     as subject_type,
        {{ r.key }}::text                     as subject_key,
        coalesce(({{ r.fires }}), false)      as fires,
        ({{ r.detail }})::text                as detail,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at, _changed_at
    from {{ ref(r.rel) }}
    where {{ r.key }} is not null
    {%- if is_incremental() %}
      and {{ r.key }} in (
          select {{ r.key }} from {{ ref(r.rel) }} where _changed_at > {{ checked_up_to }}
          union select subject_key from {{ this }} where is_open and rule_code = '{{ r.code }}')
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

{% if is_incremental() %}
previous as (
    select anomaly_id, first_found_at, is_open from {{ this }}
),

-- open anomalies whose subject left its element table (a deleted house, a person whose rows
-- were all deleted): nothing re-checks them, so they are closed here.
vanished as (
    select t.* from {{ this }} t
    where t.is_open and not (
        (t.subject_type = 'person' and exists (select 1 from {{ ref('elem_person') }} e where e.gmsfhm = t.subject_key))
        or (t.subject_type = 'place' and exists (select 1 from {{ ref('elem_place') }} e where e.dzbm = t.subject_key))
        or (t.subject_type = 'house' and exists (select 1 from {{ ref('elem_house') }} e where e.fwbh = t.subject_key))
    )
),
{% endif %}

final as (
    select
        c.anomaly_id,
        c.rule_code,
        c.rule_name,
        c.subject_type,
        c.subject_key,
        c.detail,
        c.fires                                             as is_open,
        {% if is_incremental() %}coalesce(p.first_found_at, now()){% else %}now(){% endif %} as first_found_at,
        now()                                               as last_checked_at,
        c._batch_id, c._file, c._line, c._msg_id, c._seq, c._loaded_at, c._changed_at
    from checked c
    {% if is_incremental() %}
    left join previous p on p.anomaly_id = c.anomaly_id
    where c.fires or p.is_open
    union all
    select
        anomaly_id, rule_code, rule_name, subject_type, subject_key,
        '对象已不存在' as detail,
        false as is_open,
        first_found_at,
        now() as last_checked_at,
        _batch_id, _file, _line, _msg_id, _seq, _loaded_at, _changed_at
    from vanished
    {% else %}
    where c.fires
    {% endif %}
)

select * from final
