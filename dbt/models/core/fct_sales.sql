{{ incremental_by_sales_date(cluster_by='customer_id') }}

with

sales as (
    select * from {{ ref('int_sales_priced') }}
),

dated as (
    -- sales_date is the partition key: lines without a SalesDate stay in staging only.
    select * from sales
    where has_sales_date
        and {{ in_sales_interval('sales_at') }}
),

final as (
    select
        sales_id,
        transaction_number,
        sales_at,
        sales_date,
        customer_id,
        employee_id,
        product_id,
        quantity,
        discount,
        unit_price,
        gross_revenue,
        net_revenue
    from dated
)

select * from final
