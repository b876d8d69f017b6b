with

source as (
    select * from {{ source('grocery', 'employees') }}
),

latest as (
    select * from source
    where ingest_date = (select max(ingest_date) from source)
),

final as (
    select
        employeeid as employee_id,
        firstname as first_name,
        middleinitial as middle_initial,
        lastname as last_name,
        birthdate as birth_date,
        gender as gender,
        cityid as city_id,
        hiredate as hired_at,
        ingest_date
    from latest
)

select * from final
