-- The fact holds every staged line that has a sales date, once: same line count and the same net
-- revenue (within float rounding) over the run's interval, or over everything on a full run.
with

fct_sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_sales_interval('sales_date') }}
),

staged_sales as (
    select * from {{ ref('int_sales_priced') }}
    where has_sales_date
        and {{ in_sales_interval('sales_at') }}
),

fct_totals as (
    select
        count(*) as line_count,
        coalesce(sum(net_revenue), 0) as net_revenue
    from fct_sales
),

staged_totals as (
    select
        count(*) as line_count,
        coalesce(sum(net_revenue), 0) as net_revenue
    from staged_sales
),

final as (
    select
        fct_totals.line_count as fct_line_count,
        staged_totals.line_count as staged_line_count,
        fct_totals.net_revenue as fct_net_revenue,
        staged_totals.net_revenue as staged_net_revenue
    from fct_totals
    cross join staged_totals
    where fct_totals.line_count != staged_totals.line_count
        or abs(fct_totals.net_revenue - staged_totals.net_revenue)
            > greatest(0.01, 1e-9 * abs(staged_totals.net_revenue))
)

select * from final
