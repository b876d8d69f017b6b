with

purchases as (
    select * from {{ ref('int_customer_purchases') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

-- The lines are added up per customer in int_customer_purchases; the one-row-per-customer
-- dimension joins those totals on customer_id, so nothing can multiply a customer's lines.
final as (
    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        customers.full_name,
        customers.city_id,
        customers.city_name,
        customers.country_name,
        coalesce(purchases.order_count, 0) as order_count,
        coalesce(purchases.line_count, 0) as line_count,
        coalesce(purchases.units, 0) as units,
        coalesce(purchases.gross_spent, 0) as gross_spent,
        coalesce(purchases.total_spent, 0) as total_spent,
        purchases.total_spent / nullif(purchases.order_count, 0) as avg_order_value,
        purchases.first_purchase_date,
        purchases.last_purchase_date,
        purchases.customer_id is not null as has_purchases
    from customers
    left join purchases
        on customers.customer_id = purchases.customer_id
)

select * from final
