{#-
    An amount of money as the marts keep it: rounded to a millionth. A sum of doubles depends on the
    order its terms are added in, which a parallel aggregation does not fix, and neither does an
    incremental model (a customer's total is their previous total plus a day's, or recomputed from
    their history): without rounding, running a day again could change a total's last bits. A line's
    revenue has at most six decimals when prices have four and discounts two (the dataset's), so
    rounding gives every order the same exact sum.
-#}
{% macro money(expression) -%}
    round({{ expression }}, 6)
{%- endmacro %}
