with

sales as (
    select * from {{ ref('stg_grocery__sales') }}
),

products as (
    select * from {{ ref('stg_grocery__products') }}
),

-- The one place revenue is computed; everything downstream sums these columns.
priced as (
    select
        sales.*,
        products.unit_price,
        sales.quantity * products.unit_price as gross_revenue,
        sales.quantity * products.unit_price * (1 - sales.discount) as net_revenue
    from sales
    left join products
        on sales.product_id = products.product_id
),

final as (
    select * from priced
)

select * from final
