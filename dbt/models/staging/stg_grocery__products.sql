with

source as (
    select * from {{ source('grocery', 'products') }}
),

latest as (
    {{ latest_row_per_key('source', 'productid') }}
),

final as (
    select
        productid as product_id,
        productname as product_name,
        price as unit_price,
        categoryid as category_id,
        class as product_class,
        modifydate as modified_at,
        resistant as resistance,
        -- IsAllergic is TRUE, FALSE or Unknown: Unknown becomes null.
        case isallergic when 'TRUE' then true when 'FALSE' then false end as is_allergic,
        vitalitydays as vitality_days,
        ingest_date,
        in_latest_snapshot
    from latest
)

select * from final
