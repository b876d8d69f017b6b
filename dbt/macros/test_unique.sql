{#-
    dbt's unique test on DuckDB, with a shortcut for integer keys.

    When the column holds integers over a dense range (`dense_integer_range`: ids nearly always
    do), one pass sets each value's bit in a bitmap of that range: the column is unique exactly when
    as many bits are set as it has values. Only when they differ does the query go on to dbt's own
    group by, so a failing test returns dbt's failing rows (each repeated value, its count). At full
    scale that is 0.06 s against 0.7 s, and the tests of stg_grocery__sales and fct_sales hold up
    every model after them. Other columns get dbt's own test.
-#}
{% macro duckdb__test_unique(model, column_name) %}
    {%- set key_range = dense_integer_range(model, column_name) -%}

{%- if key_range is none %}
{{ dbt.default__test_unique(model, column_name) }}
{%- else %}
with bitmap as (

    select bit_count(bitstring_agg({{ column_name }}, {{ key_range[0] }}, {{ key_range[1] }})) <> count({{ column_name }})
        as has_duplicates
    from {{ model }}

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records

from {{ model }}
where {{ column_name }} is not null
    and (select has_duplicates from bitmap)
group by {{ column_name }}
having count(*) > 1
{%- endif %}

{% endmacro %}
