{#-
    Models land in the schema of their layer exactly as named (staging, core, marts), not in dbt's
    default `<target schema>_<custom schema>`. On BigQuery each layer is a dataset whose name carries
    the pipeline's dataset prefix (`GROCERY_BQ_DATASET_PREFIX`), e.g. `dev_core`.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ layer_schema(custom_schema_name | trim) }}
    {%- endif -%}
{%- endmacro %}


{% macro layer_schema(layer) -%}
    {%- if target.type == 'bigquery' -%}
        {{ env_var('GROCERY_BQ_DATASET_PREFIX', '') ~ layer }}
    {%- else -%}
        {{ layer }}
    {%- endif -%}
{%- endmacro %}
