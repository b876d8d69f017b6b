with

summary as (
    select * from {{ ref('mart_sales_summary') }}
),

geography as (
    select * from {{ ref('dim_geography') }}
),

-- Added up by id alone: the summary's days keep the names their day was built with, so a city
-- renamed since would otherwise split into two rows. The names are the dimension's, as it is now.
per_city as (
    select
        city_id,
        sum(line_count) as line_count,
        sum(units) as units,
        {{ money('sum(gross_revenue)') }} as gross_revenue,
        {{ money('sum(net_revenue)') }} as net_revenue,
        min(sales_date) as first_sales_date,
        max(sales_date) as last_sales_date
    from summary
    group by city_id
),

final as (
    select
        per_city.city_id,
        geography.city_name,
        geography.country_name,
        per_city.line_count,
        per_city.units,
        per_city.gross_revenue,
        per_city.net_revenue,
        per_city.first_sales_date,
        per_city.last_sales_date,
        rank() over (order by per_city.net_revenue desc) as revenue_rank
    from per_city
    left join geography
        on per_city.city_id = geography.city_id
)

select * from final
