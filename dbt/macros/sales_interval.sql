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
    Every day the run replaces, the interval's and the extra ones, in order; none on a full run.
-#}
{% macro sales_replaced_days() -%}
    {%- set bounds = sales_interval() -%}
    {%- if bounds is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for offset in range((bounds[1] - bounds[0]).days + 1) -%}
        {%- do days.append(bounds[0] + modules.datetime.timedelta(days=offset)) -%}
    {%- endfor -%}
    {{ return((days + sales_extra_dates()) | unique | sort) }}
{%- endmacro %}


{#-
    The days the run replaces as the fewest ranges of consecutive days, [first, last] each, in
    order; none on a full run.
-#}
{% macro sales_replaced_ranges() -%}
    {%- set days = sales_replaced_days() -%}
    {%- if days is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set one_day = modules.datetime.timedelta(days=1) -%}
    {%- set ns = namespace(ranges=[]) -%}
    {%- for day in days -%}
        {%- if ns.ranges and ns.ranges[-1][1] + one_day == day -%}
            {%- set ns.ranges = ns.ranges[:-1] + [[ns.ranges[-1][0], day]] -%}
        {%- else -%}
            {%- set ns.ranges = ns.ranges + [[day, day]] -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(ns.ranges) }}
{%- endmacro %}


{#-
    [first, last] of the days the run replaces (none on a full run): what lies before `first` and
    after `last` is left as it was.
-#}
{% macro sales_replaced_span() -%}
    {%- set ranges = sales_replaced_ranges() -%}
    {{ return(none if ranges is none else [ranges[0][0], ranges[-1][1]]) }}
{%- endmacro %}


{#-
    A SQL condition: `column` lies in the days the run replaces, its interval and the extra days
    (always true on a full run). Following the project's naming rule, a `_date` column is a date
    and an `_at` column a timestamp. On the staging views filter on sales_at, not sales_date: DuckDB
    pushes a condition on the plain column down to the scan of raw.sales, not one on the computed
    date, so a one-day run reads one day. A timestamp is compared with each range of consecutive
    days, pushed down too; past 16 ranges (many scattered extra days), with their span, and its date
    looked up in the days: 130 OR-ed ranges took DuckDB 2-5 s per scan of the full history, where
    one range of an old extra day beside the interval takes 0.02 s and the span 0.7-1 s.
-#}
{% macro in_sales_interval(column) -%}
    {%- set bounds = sales_interval() -%}
    {%- set extra = sales_extra_dates() -%}
    {%- set one_day = modules.datetime.timedelta(days=1) -%}
    {%- if bounds is none -%}
        true
    {%- elif column.endswith('_at') -%}
        {%- set ranges = sales_replaced_ranges() -%}
        {%- if ranges | length <= 16 -%}
            {%- if ranges | length > 1 %}({% endif -%}
            {%- for r in ranges -%}
                {%- if not loop.first %} or {% endif -%}
                {%- if ranges | length > 1 %}({% endif -%}
                {{ column }} >= timestamp '{{ r[0] }}' and {{ column }} < timestamp '{{ r[1] + one_day }}'
                {%- if ranges | length > 1 %}){% endif -%}
            {%- endfor -%}
            {%- if ranges | length > 1 %}){% endif -%}
        {%- else -%}
            ({{ column }} >= timestamp '{{ ranges[0][0] }}' and {{ column }} < timestamp '{{ ranges[-1][1] + one_day }}' and cast({{ column }} as date) in ({{ sales_replaced_partitions() | join(', ') }}))
        {%- endif -%}
    {%- else -%}
        {%- if extra %}({% endif -%}
        {{ column }} between date '{{ bounds[0] }}' and date '{{ bounds[1] }}'
        {%- if extra %} or {{ column }} in ({% for day in extra %}date '{{ day }}'{% if not loop.last %}, {% endif %}{% endfor %})){% endif -%}
    {%- endif -%}
{%- endmacro %}


{#- Every day the run replaces as a SQL date literal: the partitions BigQuery's insert_overwrite replaces. -#}
{% macro sales_replaced_partitions() -%}
    {%- set days = sales_replaced_days() -%}
    {%- if days is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for day in days -%}
        {%- do literals.append("date '" ~ day ~ "'") -%}
    {%- endfor -%}
    {{ return(literals) }}
{%- endmacro %}
