{#-
    The config of a model that is incremental by a key other than the sales day: a run writes new
    rows for some keys, and each replaces the key's previous row. On DuckDB with delete+insert, on
    BigQuery with a merge on the key. A run over everything rebuilds the table
    (macros/should_full_refresh.sql).
-#}
{% macro incremental_by_key(unique_key) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy=('merge' if target.type == 'bigquery' else 'delete+insert'),
        unique_key=unique_key,
        on_schema_change='fail',
    ) }}
{%- endmacro %}
