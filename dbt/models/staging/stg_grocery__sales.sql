-- A sale line delivered again by a later delivery replaces the earlier one. Written as an anti-join
-- rather than a window, and on the source table rather than an import CTE (DuckDB materializes a
-- CTE that a correlated subquery refers to, in full), so that a filter on sales_date downstream
-- reaches the table scan: a one-day run reads one day of sales, and one delivery costs no join.
with

latest as (
    select * from {{ source('grocery', 'sales') }} as sales
    where not exists (
        select 1
        from {{ source('grocery', 'sales') }} as later
        where later.salesid = sales.salesid
            and later.ingest_date > sales.ingest_date
    )
),

-- Every column is renamed, even where only the case changes: the raw tables keep the Kaggle
-- names (Quantity), and a column passed through unaliased would keep its capital letter.
final as (
    select
        salesid as sales_id,
        transactionnumber as transaction_number,
        salespersonid as employee_id,
        customerid as customer_id,
        productid as product_id,
        quantity as quantity,
        discount as discount,
        -- TotalPrice is deliberately not read: it is 0 in every row of the published data.
        salesdate as sales_at,
        cast(salesdate as date) as sales_date,
        salesdate is not null as has_sales_date,
        ingest_date
    from latest
)

select * from final
