{#-
    dbt's accepted_values test, with each quoted value escaped for the warehouse's dialect by the
    adapter-dispatched escape_single_quotes (DuckDB doubles the quote: 'Can''t Lose'; BigQuery
    escapes it: 'Can\'t Lose', where a doubled quote is two adjacent literals). The yml lists values
    as they are, e.g. "Can't Lose". Otherwise dbt's own macro, unchanged.
-#}
{% macro default__test_accepted_values(model, column_name, values, quote=True) %}

with all_values as (

    select
        {{ column_name }} as value_field,
        count(*) as n_records

    from {{ model }}
    group by {{ column_name }}

)

select *
from all_values
where value_field not in (
    {% for value in values -%}
        {% if quote -%}
        '{{ escape_single_quotes(value) }}'
        {%- else -%}
        {{ value }}
        {%- endif -%}
        {%- if not loop.last -%},{%- endif %}
    {%- endfor %}
)

{% endmacro %}
