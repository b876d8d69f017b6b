{{ incremental_by_sales_date(cluster_by='category_id') }}

with

sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_sales_interval('sales_date') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

-- products is joined on its primary key, so every sale line stays one row.
sales_with_category as (
    select
        sales.sales_date,
        products.category_id,
        products.category_name,
        sales.transaction_number,
        {{ in_multi_line_transaction('sales.transaction_number') }} as in_multi_line_transaction,
        sales.customer_id,
        sales.quantity,
        sales.gross_revenue,
        sales.net_revenue
    from sales
    inner join products
        on sales.product_id = products.product_id
),

final as (
    select
        sales_date,
        category_id,
        category_name,
        count(*) as line_count,
        {{ count_orders() }} as order_count,
        {{ count_distinct_ids(ref('fct_sales'), 'customer_id') }} as customer_count,
        sum(quantity) as units,
        {{ money('sum(gross_revenue)') }} as gross_revenue,
        {{ money('sum(net_revenue)') }} as net_revenue
    from sales_with_category
    group by sales_date, category_id, category_name
)

select * from final
