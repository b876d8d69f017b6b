with

customers as (
    select * from {{ ref('stg_grocery__customers') }}
),

geography as (
    select * from {{ ref('dim_geography') }}
),

final as (
    select
        customers.customer_id,
        customers.first_name,
        customers.middle_initial,
        customers.last_name,
        concat(customers.first_name, ' ', customers.last_name) as full_name,
        customers.address,
        customers.city_id,
        geography.city_name,
        geography.country_name,
        customers.in_latest_snapshot
    from customers
    left join geography
        on customers.city_id = geography.city_id
)

select * from final
