with

sales as (
    select * from {{ ref('fct_sales') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

-- Aggregate the lines per customer first, then join the one-row-per-customer dimension: a join
-- before the aggregation on anything but customer_id would multiply the lines.
per_customer as (
    select
        customer_id,
        count(distinct transaction_number) as order_count,
        count(*) as line_count,
        sum(quantity) as units,
        sum(gross_revenue) as gross_spent,
        sum(net_revenue) as total_spent,
        min(sales_date) as first_purchase_date,
        max(sales_date) as last_purchase_date
    from sales
    group by customer_id
),

final as (
    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        customers.full_name,
        customers.city_id,
        customers.city_name,
        customers.country_name,
        coalesce(per_customer.order_count, 0) as order_count,
        coalesce(per_customer.line_count, 0) as line_count,
        coalesce(per_customer.units, 0) as units,
        coalesce(per_customer.gross_spent, 0) as gross_spent,
        coalesce(per_customer.total_spent, 0) as total_spent,
        per_customer.total_spent / nullif(per_customer.order_count, 0) as avg_order_value,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date,
        per_customer.customer_id is not null as has_purchases
    from customers
    left join per_customer
        on customers.customer_id = per_customer.customer_id
)

select * from final
