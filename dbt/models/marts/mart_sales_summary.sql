{{ incremental_by_sales_date(cluster_by='city_id') }}

with

sales as (
    select * from {{ ref('fct_sales') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

sales_in_interval as (
    select * from sales
    where {{ in_sales_interval('sales_date') }}
),

-- Both dimensions are joined on their primary key, so every sale line stays one row.
sales_in_context as (
    select
        sales.sales_date,
        customers.city_id,
        customers.city_name,
        customers.country_name,
        products.category_id,
        products.category_name,
        sales.quantity,
        sales.gross_revenue,
        sales.net_revenue
    from sales_in_interval as sales
    inner join customers
        on sales.customer_id = customers.customer_id
    inner join products
        on sales.product_id = products.product_id
),

final as (
    select
        sales_date,
        city_id,
        city_name,
        country_name,
        category_id,
        category_name,
        count(*) as line_count,
        sum(quantity) as units,
        sum(gross_revenue) as gross_revenue,
        sum(net_revenue) as net_revenue
    from sales_in_context
    group by sales_date, city_id, city_name, country_name, category_id, category_name
)

select * from final
