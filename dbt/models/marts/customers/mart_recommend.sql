{#- How many products a customer gets: models.als.topN, which the stages pass in the environment
    (read when the model runs: a value read at parse time would make dbt parse it again whenever the
    value changes); 10, AlsSpec's default, in a dbt command run by hand. -#}
{%- set top_n = env_var('GROCERY_RECOMMEND_TOP_N', '10') | int if execute else 10 %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

sales as (
    select * from {{ ref('fct_sales') }}
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

-- Customers the model cannot score, with no purchase up to the day the recommendations are as of,
-- get the popular products, marked as a fallback: the Spark job never saw most of them (no dated
-- sale at all). One it scored, but whose every candidate it excluded (they bought them all), gets
-- none: the popular products are among those too.
buyers as (
    select distinct sales.customer_id
    from sales
    where sales.sales_date <= (select max(popular.as_of_date) from popular)
),

unscored_customers as (
    select customers.customer_id
    from customers
    where
        customers.customer_id not in (select recommendations.customer_id from recommendations)
        and customers.customer_id not in (select buyers.customer_id from buyers)
),

fallback as (
    select
        unscored_customers.customer_id,
        popular.rank,
        popular.product_id,
        popular.score,
        true as is_fallback,
        popular.as_of_date
    from unscored_customers
    cross join popular
    where popular.rank <= {{ top_n }}
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
