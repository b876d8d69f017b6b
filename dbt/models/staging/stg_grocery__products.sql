with

source as (
    select * from {{ source('grocery', 'products') }}
),

latest as (
    select * from source
    where ingest_date = (select max(ingest_date) from source)
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
        ingest_date
    from latest
)

select * from final
