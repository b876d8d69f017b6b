with

source as (
    select * from {{ source('grocery', 'categories') }}
),

latest as (
    {{ latest_row_per_key('source', 'categoryid') }}
),

final as (
    select
        categoryid as category_id,
        categoryname as category_name,
        ingest_date,
        in_latest_snapshot
    from latest
)

select * from final
