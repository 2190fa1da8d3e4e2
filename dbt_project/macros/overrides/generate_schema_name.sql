{# Layers are real schemas (staging, core, topic, element, model, serve), not target-prefixed ones:
   analysts and the redirect API read them by these names. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
