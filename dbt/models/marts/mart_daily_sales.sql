{{ incremental_by_sales_date() }}

with

sales as (
    select
        *,
        {{ in_multi_line_transaction() }} as in_multi_line_transaction
    from {{ ref('fct_sales') }}
    where {{ in_sales_interval('sales_date') }}
),

final as (
    select
        sales_date,
        count(*) as line_count,
        {{ count_orders() }} as order_count,
        {{ count_distinct_ids(ref('fct_sales'), 'customer_id') }} as customer_count,
        sum(quantity) as units,
        {{ money('sum(gross_revenue)') }} as gross_revenue,
        {{ money('sum(net_revenue)') }} as net_revenue
    from sales
    group by sales_date
)

select * from final
