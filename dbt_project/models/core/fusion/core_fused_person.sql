{{ config(materialized='table', indexes=[{'columns': ['gmsfhm'], 'unique': true}]) }}
-- depends_on: {{ ref('core_person') }}
-- 实有人口融合：省厅数据（core_person）与各汇聚数据源（YAML 的 fuse: {entity: person}）按身份号码合并。
{{ dz_fuse_entity('person', 'gmsfhm', ref('core_person'), ['xm', 'lxdh'], '_built_at') }}
