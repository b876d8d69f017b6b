with

segments as (
    select * from {{ ref('mart_customer_segments') }}
),

per_segment as (
    select
        segment,
        count(*) as customer_count,
        avg(recency_days) as avg_recency_days,
        avg(frequency) as avg_frequency,
        avg(monetary) as avg_monetary,
        {{ money('sum(monetary)') }} as monetary
    from segments
    group by segment
),

final as (
    select
        segment,
        customer_count,
        customer_count / sum(customer_count) over () as customer_share,
        avg_recency_days,
        avg_frequency,
        avg_monetary,
        monetary,
        monetary / nullif(sum(monetary) over (), 0) as monetary_share
    from per_segment
)

select * from final
