-- A sale line delivered again by a later delivery replaces the earlier one: a line is kept when no
-- later delivery holds its SalesID. Written as a left join that keeps the unmatched lines rather than
-- a `not exists` or a window: DuckDB runs it as one hash join (the correlated form took 3x as long),
-- and on the source tables rather than import CTEs, so a filter on sales_date downstream reaches the
-- table scan: a one-day run reads one day of sales. Only lines of a delivery after the first one can
-- replace anything, so only those are hashed: after a full load followed by daily ones, the join's
-- table holds the daily lines, not the history (at full scale 0.1 s instead of 0.6 s per read).
with

later_deliveries as (
    select salesid, ingest_date
    from {{ source('grocery', 'sales') }}
    where ingest_date > (select min(ingest_date) from {{ source('grocery', 'sales') }})
),

latest as (
    select sales.*
    from {{ source('grocery', 'sales') }} as sales
    left join later_deliveries as later
        on later.salesid = sales.salesid
        and later.ingest_date > sales.ingest_date
    where later.salesid is null
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
