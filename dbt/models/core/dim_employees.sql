with

employees as (
    select * from {{ ref('stg_grocery__employees') }}
),

geography as (
    select * from {{ ref('dim_geography') }}
),

final as (
    select
        employees.employee_id,
        employees.first_name,
        employees.middle_initial,
        employees.last_name,
        concat(employees.first_name, ' ', employees.last_name) as full_name,
        employees.birth_date,
        employees.gender,
        employees.hired_at,
        employees.city_id,
        geography.city_name,
        geography.country_name,
        employees.in_latest_snapshot
    from employees
    left join geography
        on employees.city_id = geography.city_id
)

select * from final
