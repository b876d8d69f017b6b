-- The dashboard's day-grain marts add up to the fact: a join that multiplied (or lost) sale lines
-- would show here, and the page's totals would disagree with the sales marts.
with

fct_sales as (
    select count(*) as line_count, coalesce(sum(net_revenue), 0) as net_revenue
    from {{ ref('fct_sales') }}
),

marts as (
    select 'mart_daily_sales' as mart, sum(line_count) as line_count, sum(net_revenue) as net_revenue
    from {{ ref('mart_daily_sales') }}
    union all
    select 'mart_daily_category_sales', sum(line_count), sum(net_revenue)
    from {{ ref('mart_daily_category_sales') }}
    union all
    select 'mart_product_daily_sales', sum(line_count), sum(net_revenue)
    from {{ ref('mart_product_daily_sales') }}
    union all
    select 'mart_employee_daily_sales', sum(line_count), sum(net_revenue)
    from {{ ref('mart_employee_daily_sales') }}
),

final as (
    select
        marts.mart,
        marts.line_count,
        fct_sales.line_count as fct_line_count,
        marts.net_revenue,
        fct_sales.net_revenue as fct_net_revenue
    from marts
    cross join fct_sales
    where coalesce(marts.line_count, 0) != fct_sales.line_count
        or abs(coalesce(marts.net_revenue, 0) - fct_sales.net_revenue)
            > greatest(0.01, 1e-9 * abs(fct_sales.net_revenue))
)

select * from final
