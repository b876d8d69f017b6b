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
    Days outside the interval that an interval run replaces as well (ISO dates, comma-separated):
    days on which fct_sales holds a line that staging no longer has on that day, because a later
    delivery moved it to another date, took its date away or withdrew it, and the days such a line
    moved to. Replacing only the interval's days would leave the line twice, or a line no delivery
    holds any more. The `transform` stage finds them (grocery/transform.py, `stale_sales_days`) and
    passes them in GROCERY_EXTRA_DATES; by hand the var `extra_dates` does the same. Read when
    the models run, like the interval (on BigQuery also at parse time, for the same reason); none on a
    full run, which rebuilds every day anyway.
-#}
{% macro sales_extra_dates() -%}
    {%- set bounds = sales_interval() -%}
    {%- if bounds is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set value = var('extra_dates', none) or env_var('GROCERY_EXTRA_DATES', '') -%}
    {%- if value is string -%}
        {%- set value = value.split(',') -%}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for text in value if text | string | trim -%}
        {%- set day = modules.datetime.date.fromisoformat(text | string | trim) -%}
        {%- if (day < bounds[0] or day > bounds[1]) and day not in days -%}
            {%- do days.append(day) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(days | sort) }}
{%- endmacro %}


{#-
    [first, last] of the days the run replaces, the interval's and the extra ones (none on a full
    run): what lies before `first` and after `last` is left as it was.
-#}
{% macro sales_replaced_span() -%}
    {%- set bounds = sales_interval() -%}
    {%- if bounds is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set days = [bounds[0], bounds[1]] + sales_extra_dates() -%}
    {{ return([days | min, days | max]) }}
{%- endmacro %}


{#-
    A SQL condition: `column` lies in the days the run replaces, its interval and the extra days
    (always true on a full run). Following the project's naming rule, a `_date` column is a date
    and an `_at` column a timestamp. On the staging views filter on sales_at, not sales_date: DuckDB
    pushes a condition on the plain column down to the scan of raw.sales, not one on the computed
    date, so a one-day run reads one day. With extra days, a timestamp is bounded by the span of
    every replaced day (pushed down too) and its date looked up in the extra days: a range per
    extra day, OR-ed, took DuckDB 4-5 s per scan of the full history with 130 of them, this 0.3-0.5 s.
-#}
{% macro in_sales_interval(column) -%}
    {%- set bounds = sales_interval() -%}
    {%- set extra = sales_extra_dates() -%}
    {%- set one_day = modules.datetime.timedelta(days=1) -%}
    {%- set extra_list %}{% for day in extra %}date '{{ day }}'{% if not loop.last %}, {% endif %}{% endfor %}{% endset -%}
    {%- if bounds is none -%}
        true
    {%- elif column.endswith('_at') -%}
        {%- set interval -%}
            {{ column }} >= timestamp '{{ bounds[0] }}' and {{ column }} < timestamp '{{ bounds[1] + one_day }}'
        {%- endset -%}
        {%- if extra -%}
            {%- set span = sales_replaced_span() -%}
            ({{ column }} >= timestamp '{{ span[0] }}' and {{ column }} < timestamp '{{ span[1] + one_day }}' and (({{ interval }}) or cast({{ column }} as date) in ({{ extra_list }})))
        {%- else -%}
            {{ interval }}
        {%- endif -%}
    {%- else -%}
        {%- if extra %}({% endif -%}
        {{ column }} between date '{{ bounds[0] }}' and date '{{ bounds[1] }}'
        {%- if extra %} or {{ column }} in ({{ extra_list }})){% endif -%}
    {%- endif -%}
{%- endmacro %}


{#- Every day the run replaces as a SQL date literal: the partitions BigQuery's insert_overwrite replaces. -#}
{% macro sales_interval_partitions() -%}
    {%- set bounds = sales_interval() -%}
    {%- if bounds is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for offset in range((bounds[1] - bounds[0]).days + 1) -%}
        {%- do days.append("date '" ~ (bounds[0] + modules.datetime.timedelta(days=offset)) ~ "'") -%}
    {%- endfor -%}
    {%- for day in sales_extra_dates() -%}
        {%- do days.append("date '" ~ day ~ "'") -%}
    {%- endfor -%}
    {{ return(days) }}
{%- endmacro %}
