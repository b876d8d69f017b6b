with

source as (
    select * from {{ source('grocery', 'cities') }}
),

latest as (
    {{ latest_row_per_key('source', 'cityid') }}
),

final as (
    select
        cityid as city_id,
        cityname as city_name,
        zipcode as zipcode,
        countryid as country_id,
        ingest_date,
        in_latest_snapshot
    from latest
)

select * from final
