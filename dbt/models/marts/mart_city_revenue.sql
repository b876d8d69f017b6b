with

summary as (
    select * from {{ ref('mart_sales_summary') }}
),

per_city as (
    select
        city_id,
        city_name,
        country_name,
        sum(line_count) as line_count,
        sum(units) as units,
        sum(gross_revenue) as gross_revenue,
        sum(net_revenue) as net_revenue,
        min(sales_date) as first_sales_date,
        max(sales_date) as last_sales_date
    from summary
    group by city_id, city_name, country_name
),

final as (
    select
        *,
        rank() over (order by net_revenue desc) as revenue_rank
    from per_city
)

select * from final
