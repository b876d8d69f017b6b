"""The segment and recommendation views once the Spark stages' marts exist.

The marts are made here in a private copy of the warehouse, with the columns the `publish` stage's
dbt models give them, so this proves the page's side whatever the Spark stages' progress; the
end-to-end run of those stages is tests/e2e's job.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dashboard_browser import Browser, open_context

from grocery.dashboard import data as dashboard_data

SEGMENTS = """
create table marts.mart_customer_segments as
select
    customer_id,
    date_diff('day', last_purchase_date, date '2018-05-09') as recency_days,
    order_count as frequency,
    total_spent as monetary,
    1 as r_score, 1 as f_score, 1 as m_score,
    case when not has_purchases then 'No purchases'
         when total_spent >= 50000 then 'Champions'
         when total_spent >= 20000 then 'Loyal'
         else 'At risk' end as segment,
    has_purchases as has_purchase
from marts.mart_customer_behavior
"""

# Each customer's three best-selling products they never bought; customers without purchases get
# the three best sellers as a fallback.
RECOMMEND = """
create table marts.mart_recommend as
with popular as (
    select product_id, sum(units) as units from marts.mart_product_daily_sales group by product_id
),
bought as (select distinct customer_id, product_id from core.fct_sales),
candidates as (
    select c.customer_id, p.product_id, p.units, not c.has_purchases as is_fallback
    from marts.mart_customer_behavior c cross join popular p
    where not exists (select 1 from bought b where b.customer_id = c.customer_id and b.product_id = p.product_id)
),
ranked as (
    select *, row_number() over (partition by customer_id order by units desc, product_id) as rank from candidates
)
select r.customer_id, r.rank, r.product_id, d.product_name, d.category_name,
       r.units / 1000.0 as score, r.is_fallback, date '2018-05-09' as as_of_date
from ranked r join core.dim_products d on r.product_id = d.product_id
where r.rank <= 3
"""

METRICS = """
create table analytics.recommendation_metrics as
select 'als' as model, 10 as k, 0.123 as precision_at_k, 0.2 as recall_at_k, 0.25 as ndcg_at_k, 0.9714 as coverage
union all select 'popularity', 10, 0.05, 0.1, 0.125, 0.2434
"""


@pytest.fixture
def spark_page(private_home: Path, tmp_path: Path) -> Path:
    con = duckdb.connect(str(private_home / "warehouse.duckdb"))
    for sql in (SEGMENTS, RECOMMEND, METRICS):
        con.execute(sql)
    con.close()
    from grocery import dashboard

    ctx = open_context(private_home)
    try:
        return Path(dashboard.render(ctx, tmp_path / "index.html"))
    finally:
        ctx.close()


def test_segments_recommendations_and_evaluation_are_shown(
    browser: Browser, spark_page: Path, private_home
) -> None:
    browser.open(spark_page)
    assert browser.js("return document.querySelectorAll('[data-testid=not-computed]').length") == 0
    assert browser.js("return document.getElementById('chart-segments').dataset.rendered") == "1"

    ctx = open_context(private_home)
    try:
        wh = ctx.warehouse
        segments = wh.query(
            "select segment, count(*) as customers from marts.mart_customer_segments "
            "group by segment order by sum(monetary) desc"
        )
        customer = wh.query(
            "select customer_id, full_name from marts.mart_customer_behavior where has_purchases "
            "order by total_spent desc limit 1"
        )[0]
        recommended = wh.query(
            f"select product_id from marts.mart_recommend where customer_id = {customer['customer_id']} order by rank"
        )
        segment = wh.query(
            f"select segment from marts.mart_customer_segments where customer_id = {customer['customer_id']}"
        )[0]["segment"]
    finally:
        ctx.close()

    shown = browser.chart("chart-segments")
    assert shown["labels"] == [r["segment"] for r in segments]
    assert shown["values"] == [r["customers"] for r in segments]

    browser.js("document.getElementById('lookup-input').value = arguments[0];", str(customer["customer_id"]))
    browser.js("document.getElementById('lookup-button').click()")
    rows = browser.wait_for(
        "const p = document.querySelector('#lookup-result .profile');"
        "return p && p.dataset.customerId === arguments[0] &&"
        " [...document.querySelectorAll('[data-testid=recommendations] tbody tr')].map(r => r.dataset.productId)",
        str(customer["customer_id"]),
    )
    assert rows == [str(r["product_id"]) for r in recommended]
    assert (
        browser.js("return document.querySelector('#lookup-result [data-field=segment]').textContent")
        == segment
    )
    metrics = browser.js(
        "return [...document.querySelectorAll('[data-testid=rec-metrics] tr')].map(r => r.innerText.split('\\t'))"
    )
    assert [[cell.replace("\n", "") for cell in row] for row in metrics] == [
        ["Model", "K", "Precision@K", "Recall@K", "NDCG@K", "Coverage"],
        ["als", "10", "0.123", "0.200", "0.250", "97.1%"],
        ["popularity", "10", "0.050", "0.100", "0.125", "24.3%"],
    ]
    problems = [e for e in browser.console() if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    # Its six columns fit a third of a 1280-pixel window, as they fit the laptop's 1366: no scrolling.
    browser.driver.set_window_size(1280, 800)
    assert browser.js(
        "const w = document.querySelector('[data-testid=rec-metrics]').parentElement;"
        "return w.scrollWidth <= w.clientWidth"
    )


def test_customers_who_never_bought_have_no_recency(browser: Browser, spark_page: Path, private_home) -> None:
    """Their segment's average days since the last order is none (a dash), not 0 days."""
    ctx = open_context(private_home)
    try:
        segments = {
            s["segment"]: s for s in dashboard_data.collect(ctx.warehouse, ctx.spec.dashboard)["segments"]
        }
    finally:
        ctx.close()
    assert segments["No purchases"]["recency"] is None
    assert segments["Champions"]["recency"] is not None
    browser.open(spark_page)
    hover = browser.js(
        "const t = document.getElementById('chart-segments').data[0];"
        "return Object.fromEntries(t.y.map((segment, i) => [segment, t.customdata[i]]))"
    )
    assert "<br>\N{EN DASH} days since last order · " in hover["No purchases"]
    assert "<br>\N{EN DASH} days" not in hover["Champions"]
