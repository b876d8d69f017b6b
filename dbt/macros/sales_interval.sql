{#-
    The data interval of a run (inclusive ISO dates). The `transform` stage passes it in the
    environment (GROCERY_START_DATE / GROCERY_END_DATE). By hand, the vars `start_date` and
    `end_date` work too and win over the environment. Both empty is a full run over everything; one
    without the other is an error.

    The interval is read when the models run, not when they are parsed: dbt re-parses every file
    that read an environment variable at parse time once its value changes (and the whole project
    when `--vars` change), so a parse-time read would cost every run of a new day a parse of a dozen
    files (about 2 s). At parse time this returns none: the SQL dbt sees then is the full run's,
    with the same refs. The exception is BigQuery: its static `partitions` config (the days
    insert_overwrite replaces) is set at parse time, so there the interval is read then too.
-#}
{% macro sales_interval() -%}
    {%- if not execute and target.type != 'bigquery' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start_date = var('start_date', none) or env_var('GROCERY_START_DATE', '') or none -%}
    {%- set end_date = var('end_date', none) or env_var('GROCERY_END_DATE', '') or none -%}
    {%- if start_date is none and end_date is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if start_date is none or end_date is none -%}
        {{ exceptions.raise_compiler_error("start_date and end_date must be set together (or both empty for a full run)") }}
    {%- endif -%}
    {%- set bounds = [] -%}
    {%- for value in [start_date, end_date] -%}
        {%- do bounds.append(modules.datetime.date.fromisoformat(value | string)) -%}
    {%- endfor -%}
    {%- if bounds[0] > bounds[1] -%}
        {{ exceptions.raise_compiler_error("start_date " ~ bounds[0] ~ " is after end_date " ~ bounds[1]) }}
    {%- endif -%}
    {{ return(bounds) }}
{%- endmacro %}


{#-
    A SQL condition: `column` lies in the run's interval (always true on a full run). Following the
    project's naming rule, a `_date` column is a date and an `_at` column a timestamp. On the
    staging views filter on sales_at, not sales_date: DuckDB pushes a condition on the plain column
    down to the scan of raw.sales, not one on the computed date, so a one-day run reads one day.
-#}
{% macro in_sales_interval(column) -%}
    {%- set bounds = sales_interval() -%}
    {%- if bounds is none -%}
        true
    {%- elif column.endswith('_at') -%}
        {{ column }} >= timestamp '{{ bounds[0] }}' and {{ column }} < timestamp '{{ bounds[1] + modules.datetime.timedelta(days=1) }}'
    {%- else -%}
        {{ column }} between date '{{ bounds[0] }}' and date '{{ bounds[1] }}'
    {%- endif -%}
{%- endmacro %}


{#- Every day of the interval as a SQL date literal: the partitions BigQuery's insert_overwrite replaces. -#}
{% macro sales_interval_partitions() -%}
    {%- set bounds = sales_interval() -%}
    {%- if bounds is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for offset in range((bounds[1] - bounds[0]).days + 1) -%}
        {%- do days.append("date '" ~ (bounds[0] + modules.datetime.timedelta(days=offset)) ~ "'") -%}
    {%- endfor -%}
    {{ return(days) }}
{%- endmacro %}
