{#-
    dbt's own rule (the model's `full_refresh` config, else the --full-refresh flag), plus one of the
    project's: a run over everything (no data interval) rebuilds every incremental model. The models
    are incremental by sales day, and a run without an interval replaces all the days there are.

    Decided here, when the model runs, rather than in each model's config: a config is evaluated when
    the model is parsed, and an interval read then ties the parse to it (macros/sales_interval.sql).
-#}
{% macro should_full_refresh() %}
    {%- set configured = config.get('full_refresh') -%}
    {%- if configured is none -%}
        {%- set configured = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- do return(configured or sales_interval() is none) -%}
{% endmacro %}
