with

customers as (
    select * from {{ ref('dim_customers') }}
),

rfm as (
    select * from {{ source('analytics', 'customer_rfm') }}
),

final as (
    select
        customers.customer_id,
        customers.full_name,
        customers.city_name,
        customers.country_name,
        coalesce(rfm.has_purchase, false) as has_purchase,
        rfm.first_purchase_date,
        rfm.last_purchase_date,
        rfm.recency_days,
        coalesce(rfm.frequency, 0) as frequency,
        coalesce(rfm.monetary, 0) as monetary,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        rfm.fm_score,
        rfm.rfm_cell,
        -- Customers the Spark job never saw (no dated sale at all) are reported, not dropped.
        coalesce(rfm.segment, 'No purchases') as segment,
        rfm.as_of_date
    from customers
    left join rfm
        on customers.customer_id = rfm.customer_id
)

select * from final
