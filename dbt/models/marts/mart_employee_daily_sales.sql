{{ incremental_by_sales_date(cluster_by='employee_id') }}

with

sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_sales_interval('sales_date') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

employees as (
    select * from {{ ref('dim_employees') }}
),

-- Both dimensions are joined on their primary key, so every sale line stays one row.
per_employee_day_category as (
    select
        sales.sales_date,
        sales.employee_id,
        products.category_id,
        count(*) as line_count,
        sum(sales.quantity) as units,
        {{ money('sum(sales.gross_revenue)') }} as gross_revenue,
        {{ money('sum(sales.net_revenue)') }} as net_revenue
    from sales
    inner join products
        on sales.product_id = products.product_id
    group by sales.sales_date, sales.employee_id, products.category_id
),

final as (
    select
        per_employee_day_category.sales_date,
        per_employee_day_category.employee_id,
        employees.full_name,
        per_employee_day_category.category_id,
        per_employee_day_category.line_count,
        per_employee_day_category.units,
        per_employee_day_category.gross_revenue,
        per_employee_day_category.net_revenue
    from per_employee_day_category
    inner join employees
        on per_employee_day_category.employee_id = employees.employee_id
)

select * from final
