with

source as (
    select * from {{ source('grocery', 'customers') }}
),

latest as (
    {{ latest_row_per_key('source', 'customerid') }}
),

final as (
    select
        customerid as customer_id,
        firstname as first_name,
        middleinitial as middle_initial,
        lastname as last_name,
        cityid as city_id,
        address as address,
        ingest_date,
        in_latest_snapshot
    from latest
)

select * from final
