with

products as (
    select * from {{ ref('stg_grocery__products') }}
),

categories as (
    select * from {{ ref('stg_grocery__categories') }}
),

final as (
    select
        products.product_id,
        products.product_name,
        products.unit_price,
        products.category_id,
        categories.category_name,
        products.product_class,
        products.resistance,
        products.is_allergic,
        products.vitality_days,
        products.modified_at,
        products.in_latest_snapshot
    from products
    left join categories
        on products.category_id = categories.category_id
)

select * from final
