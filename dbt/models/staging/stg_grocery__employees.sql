with

source as (
    select * from {{ source('grocery', 'employees') }}
),

latest as (
    {{ latest_row_per_key('source', 'employeeid') }}
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
        ingest_date,
        in_latest_snapshot
    from latest
)

select * from final
