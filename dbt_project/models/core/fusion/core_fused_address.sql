{{ config(materialized='table', indexes=[{'columns': ['dzbm'], 'unique': true}]) }}
-- depends_on: {{ ref('core_address') }}
-- 标准地址融合：省厅标准地址（core_address）与各汇聚数据源（YAML 的 fuse: {entity: address}）按地址编码合并。
{{ dz_fuse_entity('address', 'dzbm', ref('core_address'), ['dzmc'], '_built_at') }}
