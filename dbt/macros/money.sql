{#-
    An amount of money as the pipeline keeps it: a whole number of millionths. A sum of doubles
    depends on the order its terms are added in, which a parallel aggregation does not fix, and
    neither does an incremental model (a customer's total is their previous total plus a day's, or
    recomputed from their history): running a day again could change a total's last bits. So a
    line's revenue is rounded to a millionth where it is computed (int_sales_priced), and so is every
    sum of amounts: a sum of whole millionths, below a billion, is off by far less than half of one,
    and rounding it gives the exact sum, whatever the order.
-#}
{% macro money(expression) -%}
    round({{ expression }}, 6)
{%- endmacro %}
