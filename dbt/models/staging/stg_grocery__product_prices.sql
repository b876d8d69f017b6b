-- Every delivery's price of every product it lists: a sale line is priced with its own delivery's
-- (int_sales_priced), so its revenue does not depend on which delivery was the latest when its day
-- was built. Dimension snapshots are small (hundreds of products a delivery).
with

source as (
    select * from {{ source('grocery', 'products') }}
),

final as (
    select
        productid as product_id,
        ingest_date,
        price as unit_price
    from source
)

select * from final
