"""The dashboard in a real browser: self-contained, every chart drawn, filters and look-up working,
and every figure it shows equal to the warehouse's own answer to the same question."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from dashboard_browser import LAPTOP, Browser
from pipeline_support import ORDERS


def money(value: float) -> str:
    """The page's rule: whole dollars from ten thousand up, cents below."""
    return f"${value:,.0f}" if abs(value) >= 10_000 else f"${value:,.2f}"


def count(value: int) -> str:
    return f"{value:,}"


def one(wh, sql: str):
    return next(iter(wh.query(sql)[0].values()))


def sales_where(start: str | None = None, end: str | None = None, category: str | None = None) -> str:
    conditions = ["true"]
    if start:
        conditions.append(f"s.sales_date >= date '{start}'")
    if end:
        conditions.append(f"s.sales_date <= date '{end}'")
    if category:
        conditions.append(f"p.category_name = '{category}'")
    return " and ".join(conditions)


FACT = "core.fct_sales s join core.dim_products p on s.product_id = p.product_id"


def test_page_fetches_nothing_and_logs_no_error(browser: Browser, page: Path) -> None:
    browser.open(page)
    urls, failures = browser.requests()
    assert failures == [], f"failed requests: {failures}"
    outside = [u for u in urls if u != browser.url and not u.startswith(("data:", "blob:"))]
    assert outside == [], f"the page asked for {outside}"
    problems = [e for e in browser.console() if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    html = page.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html), (
        "an external resource is referenced"
    )


def test_a_browser_that_cannot_inflate_the_page_says_so(browser: Browser, page: Path) -> None:
    # The data and Plotly are inlined gzip-compressed; a browser without DecompressionStream (older
    # than 2023) gets one sentence instead of an empty page.
    driver = browser.driver
    older = driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.DecompressionStream;"}
    )
    try:
        driver.get(page.resolve().as_uri())
        browser.wait_for("return document.body && document.body.dataset.ready", timeout=30)
        assert browser.js("return document.body.dataset.ready") == "error"
        said = browser.js("return document.querySelector('.page-error').textContent")
        assert said.startswith("This browser cannot open the page (it lacks DecompressionStream)")
        assert browser.js("return typeof window.Plotly") == "undefined"
    finally:
        driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": older["identifier"]}
        )


def test_every_chart_is_drawn_with_data(browser: Browser, page: Path) -> None:
    browser.open(page)
    charts = browser.js(
        "return [...document.querySelectorAll('[data-chart]')].map(e => ({"
        "  id: e.id, rendered: e.dataset.rendered, svg: !!e.querySelector('svg.main-svg'),"
        "  points: (e.data || []).reduce((n, t) => n + ((t.x || t.lon || t.values || []).length), 0),"
        "  width: e.getBoundingClientRect().width, height: e.getBoundingClientRect().height}))"
    )
    expected = {
        "chart-daily", "chart-categories", "chart-map", "chart-cities", "chart-products-revenue",
        "chart-products-units", "chart-employees", "chart-aov",
    }  # fmt: skip
    assert expected <= {c["id"] for c in charts}
    for chart in charts:
        assert chart["rendered"] == "1" and chart["svg"], chart
        assert chart["points"] > 0, chart
        assert chart["width"] > 200 and chart["height"] > 200, chart
    # The map: every customer city placed, over the state outlines.
    cities = browser.js("return document.getElementById('chart-map').data[1].lon.length")
    assert cities == browser.js("return window.DASHBOARD_DATA.cities.length")
    assert (
        browser.js(
            "return document.querySelectorAll('#chart-map path.js-line, #chart-map .scattergeo path').length"
        )
        > 0
    )


def test_kpis_equal_the_marts(browser: Browser, page: Path, warehouse) -> None:
    browser.open(page)
    revenue = one(warehouse, "select sum(net_revenue) from marts.mart_sales_summary")
    lines = one(warehouse, "select sum(line_count) from marts.mart_sales_summary")
    units = one(warehouse, "select sum(units) from marts.mart_sales_summary")
    orders = one(warehouse, f"select {ORDERS} from core.fct_sales")
    buyers = one(warehouse, "select count(*) from marts.mart_customer_behavior where has_purchases")
    last = one(warehouse, "select max(sales_date) from core.fct_sales")
    assert browser.kpi("revenue") == money(revenue)
    assert browser.kpi("lines") == count(lines)
    assert browser.kpi("units") == count(units)
    assert browser.kpi("customers") == count(buyers)
    assert browser.kpi("aov") == f"${revenue / orders:,.2f}"
    assert browser.kpi("freshness") == f"{last:%b} {last.day}, {last.year}"


def test_rankings_equal_the_sales_marts(browser: Browser, page: Path, warehouse) -> None:
    browser.open(page)
    employees = warehouse.query(
        "select full_name, total_revenue from marts.mart_employee_performance "
        "order by total_revenue desc, employee_id limit 10"
    )
    shown = browser.chart("chart-employees")
    assert shown["labels"] == [r["full_name"] for r in employees]
    assert shown["text"] == [money(r["total_revenue"]) for r in employees]

    cities = warehouse.query(
        "select city_name, net_revenue from marts.mart_city_revenue order by net_revenue desc, city_id limit 10"
    )
    shown = browser.chart("chart-cities")
    assert shown["labels"] == [r["city_name"] for r in cities]
    assert shown["text"] == [money(r["net_revenue"]) for r in cities]

    customers = warehouse.query(
        "select customer_id, total_spent from marts.mart_customer_behavior "
        "order by total_spent desc, customer_id limit 10"
    )
    rows = browser.js(
        "return [...document.querySelectorAll('#table-customers tbody tr')].map(r => "
        "[r.dataset.customerId, r.querySelector('[data-field=revenue]').textContent])"
    )
    assert rows == [[str(r["customer_id"]), money(r["total_spent"])] for r in customers]


def test_date_filter_changes_every_filtered_number(browser: Browser, page: Path, warehouse) -> None:
    browser.open(page)
    before = {k: browser.kpi(k) for k in ("revenue", "lines", "units")}
    top_product_before = browser.chart("chart-products-revenue")
    start, end = "2018-02-05", "2018-02-18"
    browser.set_filters(start=start, end=end)
    where = sales_where(start, end)

    revenue = one(warehouse, f"select sum(s.net_revenue) from {FACT} where {where}")
    lines = one(warehouse, f"select count(*) from {FACT} where {where}")
    assert browser.kpi("revenue") == money(revenue) != before["revenue"]
    assert browser.kpi("lines") == count(lines) != before["lines"]
    assert browser.js("return document.getElementById('chart-daily').data[0].x.length") == 14

    products = warehouse.query(
        f"select p.product_name, sum(s.net_revenue) as revenue from {FACT} where {where} "
        "group by p.product_id, p.product_name order by revenue desc, p.product_name limit 10"
    )
    shown = browser.chart("chart-products-revenue")
    assert shown["text"] == [money(r["revenue"]) for r in products]
    assert shown["text"] != top_product_before["text"]

    cities = warehouse.query(
        "select c.city_name, sum(s.net_revenue) as revenue from core.fct_sales s "
        "join core.dim_customers c on s.customer_id = c.customer_id "
        f"where s.sales_date between date '{start}' and date '{end}' "
        "group by c.city_name order by revenue desc limit 10"
    )
    assert browser.chart("chart-cities")["text"] == [money(r["revenue"]) for r in cities]

    # A month from the month list is the same as typing its first and last day.
    browser.js(
        "const m = document.getElementById('f-month'); m.value = '2018-03';"
        "m.dispatchEvent(new Event('change', {bubbles: true}));"
    )
    browser.wait_for(
        "return document.body.dataset.start === '2018-03-01' && document.body.dataset.end === '2018-03-31'"
    )
    march = one(
        warehouse, f"select sum(s.net_revenue) from {FACT} where {sales_where('2018-03-01', '2018-03-31')}"
    )
    browser.wait_for(
        "return document.querySelector('[data-kpi=revenue] .value').textContent === arguments[0]",
        money(march),
    )


def test_category_filter_changes_every_filtered_number(browser: Browser, page: Path, warehouse) -> None:
    browser.open(page)
    category = one(
        warehouse,
        f"select p.category_name from {FACT} group by p.category_name order by sum(s.net_revenue) desc limit 1",
    )
    before = browser.kpi("revenue")
    browser.set_filters(category=category)
    where = sales_where(category=category)
    revenue = one(warehouse, f"select sum(s.net_revenue) from {FACT} where {where}")
    units = one(warehouse, f"select sum(s.quantity) from {FACT} where {where}")
    assert browser.kpi("revenue") == money(revenue) != before
    assert browser.kpi("units") == count(units)

    by_units = warehouse.query(
        f"select p.product_name, sum(s.quantity) as units from {FACT} where {where} "
        "group by p.product_id, p.product_name order by units desc, p.product_name limit 10"
    )
    shown = browser.chart("chart-products-units")
    assert shown["values"] == [r["units"] for r in by_units]
    employees = warehouse.query(
        "select e.full_name, sum(s.net_revenue) as revenue from core.fct_sales s "
        "join core.dim_products p on s.product_id = p.product_id "
        f"join core.dim_employees e on s.employee_id = e.employee_id where {where} "
        "group by e.full_name order by revenue desc limit 10"
    )
    assert browser.chart("chart-employees")["text"] == [money(r["revenue"]) for r in employees]

    # Both filters together, then Reset brings the whole history back.
    browser.set_filters(start="2018-04-01", end="2018-04-30")
    both = one(
        warehouse,
        f"select sum(s.net_revenue) from {FACT} where {sales_where('2018-04-01', '2018-04-30', category)}",
    )
    assert browser.kpi("revenue") == money(both)
    browser.js("document.getElementById('f-reset').click()")
    total = one(warehouse, "select sum(net_revenue) from core.fct_sales")
    browser.wait_for(
        "return document.querySelector('[data-kpi=revenue] .value').textContent === arguments[0]",
        money(total),
    )


def test_customer_lookup_by_name_and_id(browser: Browser, page: Path, warehouse) -> None:
    browser.open(page)
    customer = warehouse.query(
        "select customer_id, full_name, total_spent, order_count from marts.mart_customer_behavior "
        "where has_purchases and full_name in (select full_name from marts.mart_customer_behavior "
        "group by full_name having count(*) = 1) order by customer_id limit 1"
    )[0]

    def look_up(text: str) -> dict:
        browser.js("document.getElementById('lookup-input').value = arguments[0];", text)
        browser.js("document.getElementById('lookup-button').click()")
        return browser.wait_for(
            "const p = document.querySelector('#lookup-result .profile');"
            "return p && p.dataset.customerId === arguments[0] && {"
            " name: p.querySelector('[data-field=name]').textContent,"
            " revenue: p.querySelector('[data-field=revenue]').textContent,"
            " orders: p.querySelector('[data-field=orders]').textContent}",
            str(customer["customer_id"]),
        )

    expected = {
        "name": customer["full_name"],
        "revenue": money(customer["total_spent"]),
        "orders": count(customer["order_count"]),
    }
    assert look_up(customer["full_name"].upper()) == expected
    assert look_up(str(customer["customer_id"])) == expected
    if not _has(warehouse, "marts", "mart_recommend"):
        text = browser.js("return document.getElementById('lookup-result').textContent")
        assert "Recommendations not computed yet" in text
    else:
        check_recommendations_shown(browser, warehouse, customer["customer_id"])


def check_recommendations_shown(browser: Browser, warehouse, customer_id) -> None:
    expected = warehouse.query(
        f"select product_id from marts.mart_recommend where customer_id = {customer_id} order by rank"
    )
    shown = browser.js(
        "return [...document.querySelectorAll('[data-testid=recommendations] tbody tr')].map(r => r.dataset.productId)"
    )
    assert shown == [str(r["product_id"]) for r in expected]


def _has(warehouse, schema: str, name: str) -> bool:
    return warehouse.exists(schema, name)


def test_data_quality_panel_counts_rows(browser: Browser, page: Path, warehouse) -> None:
    browser.open(page)
    received = one(warehouse, "select count(*) from raw.sales") + one(
        warehouse, "select count(*) from quarantine.sales"
    )
    without_date = one(warehouse, "select count(*) from staging.stg_grocery__sales where not has_sales_date")
    row = browser.js(
        "return [...document.querySelectorAll('#table-quality tr[data-table=sales] td')].map(td => td.textContent)"
    )
    assert row[1] == count(received)
    assert count(without_date) in browser.js(
        "return document.querySelector('[data-testid=without-date]').textContent"
    )
    # Each delivery's rows, of all seven tables, newest first.
    deliveries = browser.js(
        "return [...document.querySelectorAll('#table-deliveries tbody tr')]"
        ".map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent))"
    )
    expected = warehouse.rows_by_ingest_date()
    assert [d[0] for d in deliveries] == sorted((day.isoformat() for day in expected), reverse=True)
    for day, accepted, quarantined, _ in deliveries:
        assert (accepted, quarantined) == tuple(count(n) for n in expected[date.fromisoformat(day)])


def test_readable_at_laptop_width_with_screenshots(browser: Browser, page: Path, tmp_path: Path) -> None:
    browser.open(page, LAPTOP)
    assert browser.js("return document.documentElement.scrollWidth") <= LAPTOP[0]
    # Every KPI fits its card (no value cut off with an ellipsis).
    assert browser.js(
        "return [...document.querySelectorAll('.kpi .value')].every(v => v.scrollWidth <= v.clientWidth)"
    )
    fold = tmp_path / "dashboard-1366x768.png"
    browser.driver.save_screenshot(str(fold))
    full = tmp_path / "dashboard-full.png"
    browser.full_page_screenshot(full)
    for shot in (fold, full):
        assert shot.stat().st_size > 50_000, shot
    print(f"screenshots: {fold} {full}")


@pytest.mark.parametrize("day", [date(2018, 1, 1)])
def test_first_day_alone_has_no_moving_average_yet(browser: Browser, page: Path, day: date) -> None:
    browser.open(page)
    browser.set_filters(start=day.isoformat(), end=day.isoformat())
    ma = browser.js("return document.getElementById('chart-daily').data[1].y")
    assert ma == [None]
