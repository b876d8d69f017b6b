with

cities as (
    select * from {{ ref('stg_grocery__cities') }}
),

countries as (
    select * from {{ ref('stg_grocery__countries') }}
),

final as (
    select
        cities.city_id,
        cities.city_name,
        cities.zipcode,
        cities.country_id,
        countries.country_name,
        countries.country_code
    from cities
    left join countries
        on cities.country_id = countries.country_id
)

select * from final
