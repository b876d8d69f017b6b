{#-
    fct_sales as the Spark jobs read it: exported to exports/fct_sales/ (grocery/spark/export.py)
    with a column that tells the lines of an order apart from the others. Spark's RFM frequency
    counts orders per customer; nearly every order is a single line, so it counts every line whose
    multi_line_transaction is null as an order of its own, and only the others distinct, as
    macros/count_orders.sql does in the marts. Exact, with no transaction number to read or hash
    for most lines, and the export is a third of the size with it in place of the transaction
    numbers. A view: built in no time, read once per state of the fact.
-#}
{{ config(materialized='view') }}

with

sales as (
    select * from {{ ref('fct_sales') }}
),

final as (
    select
        *,
        -- The transaction number when the transaction has several lines (int_multi_line_transactions).
        case
            when {{ in_multi_line_transaction() }} then transaction_number
        end as multi_line_transaction
    from sales
)

select * from final
