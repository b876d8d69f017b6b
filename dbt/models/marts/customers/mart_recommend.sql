with

customers as (
    select * from {{ ref('dim_customers') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

recommendations as (
    select * from {{ source('analytics', 'recommendations') }}
),

popular as (
    select * from {{ source('analytics', 'popular_products') }}
),

top_n as (
    select coalesce(max(rank), 10) as n from recommendations
),

-- Customers the Spark job never saw (no dated sale) get the popular products, marked as a fallback.
unseen_customers as (
    select customers.customer_id
    from customers
    left join (select distinct customer_id from recommendations) as seen
        on customers.customer_id = seen.customer_id
    where seen.customer_id is null
),

fallback as (
    select
        unseen_customers.customer_id,
        popular.rank,
        popular.product_id,
        popular.score,
        true as is_fallback,
        popular.as_of_date
    from unseen_customers
    cross join popular
    where popular.rank <= (select n from top_n)
),

ranked as (
    select customer_id, rank, product_id, score, is_fallback, as_of_date from recommendations
    union all
    select customer_id, rank, product_id, score, is_fallback, as_of_date from fallback
),

final as (
    select
        ranked.customer_id,
        ranked.rank,
        ranked.product_id,
        products.product_name,
        products.category_name,
        ranked.score,
        ranked.is_fallback,
        ranked.as_of_date
    from ranked
    left join products
        on ranked.product_id = products.product_id
)

select * from final
