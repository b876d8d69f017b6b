{{ incremental_by_sales_date() }}

with

sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_sales_interval('sales_date') }}
),

final as (
    select
        sales_date,
        count(*) as line_count,
        count(distinct transaction_number) as order_count,
        count(distinct customer_id) as customer_count,
        sum(quantity) as units,
        sum(gross_revenue) as gross_revenue,
        sum(net_revenue) as net_revenue
    from sales
    group by sales_date
)

select * from final
