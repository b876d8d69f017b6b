with

daily as (
    select * from {{ ref('mart_employee_daily_sales') }}
),

sales as (
    select * from {{ ref('fct_sales') }}
),

employees as (
    select * from {{ ref('dim_employees') }}
),

-- The additive totals come from the day-grain mart, which a daily run only extends: a few
-- thousand rows, not the history's lines.
per_employee as (
    select
        employee_id,
        sum(line_count) as line_count,
        sum(units) as units,
        {{ money('sum(gross_revenue)') }} as gross_revenue,
        {{ money('sum(net_revenue)') }} as total_revenue,
        min(sales_date) as first_sales_date,
        max(sales_date) as last_sales_date
    from daily
    group by employee_id
),

-- Distinct customers do not add up over days: they are counted on the lines.
customers_served as (
    select
        employee_id,
        {{ count_distinct_ids(ref('fct_sales'), 'customer_id') }} as customers_served
    from sales
    group by employee_id
),

final as (
    select
        employees.employee_id,
        employees.first_name,
        employees.last_name,
        employees.full_name,
        employees.city_id,
        employees.city_name,
        coalesce(per_employee.line_count, 0) as line_count,
        coalesce(customers_served.customers_served, 0) as customers_served,
        coalesce(per_employee.units, 0) as units,
        coalesce(per_employee.gross_revenue, 0) as gross_revenue,
        coalesce(per_employee.total_revenue, 0) as total_revenue,
        per_employee.total_revenue / nullif(per_employee.line_count, 0) as avg_line_revenue,
        per_employee.first_sales_date,
        per_employee.last_sales_date,
        rank() over (order by coalesce(per_employee.total_revenue, 0) desc) as revenue_rank
    from employees
    left join per_employee
        on employees.employee_id = per_employee.employee_id
    left join customers_served
        on employees.employee_id = customers_served.employee_id
)

select * from final
