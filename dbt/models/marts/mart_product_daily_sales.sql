{{ incremental_by_sales_date(cluster_by='product_id') }}

with

sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_sales_interval('sales_date') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

per_product_day as (
    select
        sales_date,
        product_id,
        count(*) as line_count,
        sum(quantity) as units,
        {{ money('sum(gross_revenue)') }} as gross_revenue,
        {{ money('sum(net_revenue)') }} as net_revenue
    from sales
    group by sales_date, product_id
),

final as (
    select
        per_product_day.sales_date,
        per_product_day.product_id,
        products.product_name,
        products.category_id,
        products.category_name,
        per_product_day.line_count,
        per_product_day.units,
        per_product_day.gross_revenue,
        per_product_day.net_revenue
    from per_product_day
    inner join products
        on per_product_day.product_id = products.product_id
)

select * from final
