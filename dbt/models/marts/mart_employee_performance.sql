with

sales as (
    select * from {{ ref('fct_sales') }}
),

employees as (
    select * from {{ ref('dim_employees') }}
),

per_employee as (
    select
        employee_id,
        count(*) as line_count,
        count(distinct customer_id) as customers_served,
        sum(quantity) as units,
        sum(gross_revenue) as gross_revenue,
        sum(net_revenue) as total_revenue,
        min(sales_date) as first_sales_date,
        max(sales_date) as last_sales_date
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
        coalesce(per_employee.customers_served, 0) as customers_served,
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
)

select * from final
