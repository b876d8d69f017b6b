with

source as (
    select * from {{ source('grocery', 'countries') }}
),

latest as (
    {{ latest_row_per_key('source', 'countryid') }}
),

final as (
    select
        countryid as country_id,
        countryname as country_name,
        countrycode as country_code,
        ingest_date,
        in_latest_snapshot
    from latest
)

select * from final
