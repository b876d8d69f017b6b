with

source as (
    select * from {{ source('grocery', 'customers') }}
),

latest as (
    select * from source
    where ingest_date = (select max(ingest_date) from source)
),

final as (
    select
        customerid as customer_id,
        firstname as first_name,
        middleinitial as middle_initial,
        lastname as last_name,
        cityid as city_id,
        address as address,
        ingest_date
    from latest
)

select * from final
