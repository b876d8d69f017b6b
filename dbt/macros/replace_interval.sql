{#-
    Incremental strategy `replace_interval` (DuckDB): delete every row of the target whose
    `unique_key` (the partition column) lies in the days the run replaces (its interval and extra
    days, in_sales_interval()), then insert the new rows, in one
    transaction. Unlike delete+insert it also empties a day of the interval that has no rows any more.
-#}
{% macro get_incremental_replace_interval_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ in_sales_interval(arg_dict['unique_key']) }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
