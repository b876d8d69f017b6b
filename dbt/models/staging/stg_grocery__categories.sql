with

source as (
    select * from {{ source('grocery', 'categories') }}
),

latest as (
    select * from source
    where ingest_date = (select max(ingest_date) from source)
),

final as (
    select
        categoryid as category_id,
        categoryname as category_name,
        ingest_date
    from latest
)

select * from final
