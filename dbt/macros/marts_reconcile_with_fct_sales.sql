{#- A singular test's body: each mart's sale lines and revenue add up to fct_sales.
    `marts` is a list of [model name, revenue column]; the test returns the marts that disagree. -#}
{% macro marts_reconcile_with_fct_sales(marts) %}
with

fct_sales as (
    select count(*) as line_count, coalesce(sum(net_revenue), 0) as net_revenue
    from {{ ref('fct_sales') }}
),

marts as (
    {% for model, revenue in marts %}
    select '{{ model }}' as mart, sum(line_count) as line_count, sum({{ revenue }}) as net_revenue
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
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
{% endmacro %}
