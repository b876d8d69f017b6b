with

source as (
    select * from {{ source('grocery', 'countries') }}
),

latest as (
    select * from source
    where ingest_date = (select max(ingest_date) from source)
),

final as (
    select
        countryid as country_id,
        countryname as country_name,
        countrycode as country_code,
        ingest_date
    from latest
)

select * from final
