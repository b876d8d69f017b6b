with

source as (
    select * from {{ source('grocery', 'cities') }}
),

latest as (
    select * from source
    where ingest_date = (select max(ingest_date) from source)
),

final as (
    select
        cityid as city_id,
        cityname as city_name,
        zipcode as zipcode,
        countryid as country_id,
        ingest_date
    from latest
)

select * from final
