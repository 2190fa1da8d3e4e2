{#- Every entity-grain row names its source: a package row (batch, file, line) or a change
    message (message id, sequence). -#}
{% test has_lineage(model) %}
select * from {{ model }} where _batch_id is null and _msg_id is null
{% endtest %}
