{#-
    [low, high] of an integer column whose values are spread over at most 64 values per row (ids
    nearly always are), or none: other columns, sparse ids, an empty relation, or before execution.
    Over such a range a bitmap of one bit per value is at most as large as the column itself, so
    one pass that sets each value's bit counts or checks distinct values without hashing them
    (`bitstring_agg`). Read with a query when the caller compiles: dbt compiles a node just before
    it runs it, after everything it depends on. Not in a unit test, whose inputs are fixtures
    inside the test's own query.
-#}
{% macro dense_integer_range(relation, column_name) %}
    {%- set bits_per_row = 64 -%}
    {%- set integer_types = ['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT',
                             'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT'] -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set stats = run_query(
        'select min(' ~ column_name ~ '), max(' ~ column_name ~ '), count(' ~ column_name ~ '), '
        ~ 'typeof(min(' ~ column_name ~ ')) from ' ~ relation
    ).rows[0] -%}
    {%- set low, high, n, kind = stats[0], stats[1], stats[2], stats[3] -%}
    {%- if n and kind in integer_types and high - low + 1 <= bits_per_row * n -%}
        {{ return([low, high]) }}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}


{#-
    An aggregate expression: the number of distinct values of an integer id column of `relation`.
    On DuckDB, over a dense range (`dense_integer_range`), the bits set in a bitmap of that range:
    at full scale, distinct customers per employee take 0.09 s this way and 0.3-0.5 s by hashing.
    The bitmap holds one bit per value of the range in every group: for customer ids at full scale
    (98,759) 12 KB a group, 17 MB over days x categories (0.05 s against 0.8 s hashed). So use it
    where groups number thousands, not customers x anything. Elsewhere `count(distinct ...)`.
-#}
{% macro count_distinct_ids(relation, column_name) %}
    {{ return(adapter.dispatch('count_distinct_ids')(relation, column_name)) }}
{% endmacro %}

{% macro default__count_distinct_ids(relation, column_name) -%}
    count(distinct {{ column_name }})
{%- endmacro %}

{% macro duckdb__count_distinct_ids(relation, column_name) -%}
    {%- set key_range = dense_integer_range(relation, column_name) -%}
    {%- if key_range is none -%}
        count(distinct {{ column_name }})
    {%- else -%}
        coalesce(bit_count(bitstring_agg({{ column_name }}, {{ key_range[0] }}, {{ key_range[1] }})), 0)
    {%- endif -%}
{%- endmacro %}
