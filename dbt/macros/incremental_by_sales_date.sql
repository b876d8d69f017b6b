{#-
    The config of a model that is incremental by sales_date. With vars start_date/end_date set, a
    run replaces exactly the days of that interval, and the extra days it is given (extra_dates,
    macros/sales_interval.sql): on DuckDB with the `replace_interval` strategy
    (macros/replace_interval.sql), on BigQuery with a static insert_overwrite of those date
    partitions. With both null, the table is rebuilt from everything (macros/should_full_refresh.sql),
    so running twice gives the same table. The model itself selects those days' rows with in_sales_interval().
-#}
{% macro incremental_by_sales_date(cluster_by=none) -%}
    {%- set is_bigquery = target.type == 'bigquery' -%}
    {{ config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if is_bigquery else 'replace_interval'),
        unique_key=(none if is_bigquery else 'sales_date'),
        partition_by=({'field': 'sales_date', 'data_type': 'date', 'granularity': 'day'} if is_bigquery else none),
        partitions=(sales_replaced_partitions() if is_bigquery else none),
        cluster_by=([cluster_by] if is_bigquery and cluster_by else none),
        on_schema_change='fail',
    ) }}
{%- endmacro %}
