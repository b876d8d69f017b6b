with

sales as (
    select * from {{ ref('stg_grocery__sales') }}
),

prices as (
    select * from {{ ref('stg_grocery__product_prices') }}
),

-- The one place revenue is computed; everything downstream sums these columns. A line is priced
-- with the products of its own delivery, which the load's contract makes list the line's product:
-- so the fact depends on the raw data alone, not on the order runs built its days in. Amounts are
-- whole millionths (macros/money.sql), so their sums do not depend on the order they are added in.
priced as (
    select
        sales.*,
        prices.unit_price,
        {{ money('sales.quantity * prices.unit_price') }} as gross_revenue,
        {{ money('sales.quantity * prices.unit_price * (1 - sales.discount)') }} as net_revenue
    from sales
    left join prices
        on sales.product_id = prices.product_id
        and sales.ingest_date = prices.ingest_date
),

final as (
    select * from priced
)

select * from final
