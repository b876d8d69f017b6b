{#-
    Orders are distinct transaction numbers. Counted distinct over millions of lines they are the
    costliest aggregate of the project, yet nearly every transaction has a single line.
    `int_multi_line_transactions` lists (a superset of) the others, so:
    - `in_multi_line_transaction()`, selected beside a model's lines, tells which lines belong to a
      listed transaction;
    - `count_orders()`, the aggregate, counts every other line as an order of its own and the listed
      ones distinct. Exact for any grouping: a transaction that is not listed has one line in all.
      A line without a transaction number (the field is optional) is an order of its own too: it was
      bought, in some basket nobody named. Spark's RFM frequency counts orders the same way
      (grocery/spark/rfm.py), so a customer's frequency is their order_count.
-#}
{% macro in_multi_line_transaction(transaction_number='transaction_number') -%}
    {{ transaction_number }} in (select transaction_number from {{ ref('int_multi_line_transactions') }})
{%- endmacro %}

{% macro count_orders(flag='in_multi_line_transaction', transaction_number='transaction_number') -%}
    count(case when {{ flag }} then null else 1 end)
        + count(distinct case when {{ flag }} then {{ transaction_number }} end)
{%- endmacro %}
