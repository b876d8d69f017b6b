{#-
    Tests on the large sales models look at the run's data interval only: a test whose config has
    `meta: {interval_column: <column>}` sees the rows whose <column> lies in the days the run
    replaces ([start_date, end_date] and any extra day; all rows on a full run), which keeps a
    one-day run from re-testing the whole history. Otherwise
    dbt's own behaviour: the test's `where` config, if any.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set interval_column = (config.get('meta') or {}).get('interval_column') -%}
    {%- if interval_column and sales_interval() is not none -%}
        {%- do conditions.append(in_sales_interval(interval_column)) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
