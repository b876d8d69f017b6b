"""Members as the page must show them: apart when they share a name, ranked like the marts at a tie,
named as written when the name looks like markup; and the recommender's evaluation over no one.

Each test takes the data of the session's warehouse (`data.collect`), changes what it is about
(a name, a few sales rows, the evaluation's rows) and renders that page with `render_html`: the
same names and exact ties these cases need are rare in generated data.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path

import pytest
from dashboard_browser import Browser, open_context

from grocery.dashboard.data import collect
from grocery.dashboard.page import render_html

TICKS = "return [...document.querySelectorAll('#' + arguments[0] + ' .ytick text')].map(t => t.textContent.trim()).reverse()"


@pytest.fixture(scope="session")
def collected(pipeline_home: Path) -> dict:
    ctx = open_context(pipeline_home)
    try:
        return collect(ctx.warehouse, ctx.spec.dashboard)
    finally:
        ctx.close()


def write_page(data: dict, folder: Path) -> Path:
    page = folder / "index.html"
    page.write_text(render_html(data), encoding="utf-8")
    return page


def ranked(rows: dict, key: str, measure: str, members: list[dict]) -> list[int]:
    """Member indexes by the measure summed over all rows, biggest first, ties by id: the marts' order."""
    sums: dict[int, float] = {}
    for member, value in zip(rows[key], rows[measure], strict=True):
        sums[member] = sums.get(member, 0) + value
    return sorted(sums, key=lambda m: (-round(sums[m], 6), members[m]["id"]))


def test_members_sharing_a_name_are_separate_rows_told_apart(
    browser: Browser, collected: dict, tmp_path: Path
) -> None:
    data = copy.deepcopy(collected)
    products = ranked(data["product_sales"], "p", "units", data["products"])
    for p in (products[0], products[3]):
        data["products"][p]["name"] = "Twin"
    employees = ranked(data["employee_sales"], "e", "revenue", data["employees"])
    for e in employees[:2]:
        data["employees"][e]["name"] = "Ann Twin"
    cities = ranked(data["city_sales"], "city", "revenue", data["cities"])
    for c, country in zip(cities[:2], ("United States", "Canada"), strict=True):
        data["cities"][c].update(name="Springfield", country=country)
    data["categories"][0] = data["categories"][1] = "Plain"
    browser.open(write_page(data, tmp_path))

    def label(member: dict) -> str:
        return "Twin #{}".format(member["id"]) if member["name"] == "Twin" else member["name"]

    assert browser.js(TICKS, "chart-products-units") == [label(data["products"][p]) for p in products[:10]]
    assert browser.js(TICKS, "chart-employees") == [
        f"Ann Twin #{data['employees'][e]['id']}" for e in employees[:2]
    ] + [data["employees"][e]["name"] for e in employees[2:10]]
    assert browser.js(TICKS, "chart-cities")[:3] == [
        "Springfield (United States)",
        "Springfield (Canada)",
        data["cities"][cities[2]]["name"],
    ]
    # One slice per category, the two of one name told apart by id, in the legend and the filter.
    plain = [f"Plain #{data['category_ids'][i]}" for i in (0, 1)]
    slices = browser.js("return document.querySelectorAll('#chart-categories .slice').length")
    assert slices == len(set(data["daily_category"]["c"]))
    legend = browser.js(
        "return [...document.querySelectorAll('#chart-categories .legendtext')].map(t => t.textContent)"
    )
    assert set(plain) <= set(legend)
    browser.set_filters(category=plain[1])
    assert browser.js("return document.getElementById('subtitle').textContent").endswith(plain[1])


def tied(data: dict, rows: str, key: str, members: str, measure: str) -> None:
    """Fourteen members with equal sales, listed in reverse order of id (1 to 14), as the only sales."""
    template = data[members][0]
    data[members] = [{**template, "id": 14 - i, "name": f"member {14 - i}"} for i in range(14)]
    sales = {"d": [0] * 14, key: list(range(14)), "revenue": [15.0] * 14, measure: [15] * 14}
    if "c" in data[rows]:
        sales["c"] = [0] * 14
    data[rows] = sales


def test_ties_at_the_cut_off_are_broken_by_id_like_the_marts(
    browser: Browser, collected: dict, tmp_path: Path
) -> None:
    # The marts and the terminal's answers rank ties by id, as a number: 1 to 10 of the 14 tied.
    data = copy.deepcopy(collected)
    tied(data, "product_sales", "p", "products", "units")
    tied(data, "employee_sales", "e", "employees", "lines")
    tied(data, "city_sales", "city", "cities", "lines")
    browser.open(write_page(data, tmp_path))
    expected = [f"member {i}" for i in range(1, 11)]
    for chart in ("chart-products-units", "chart-products-revenue", "chart-employees", "chart-cities"):
        assert browser.js(TICKS, chart) == expected, chart


def test_names_that_look_like_markup_are_drawn_as_written(
    browser: Browser, collected: dict, tmp_path: Path
) -> None:
    data = copy.deepcopy(collected)
    top = ranked(data["product_sales"], "p", "units", data["products"])[0]
    data["products"][top]["name"] = "a</b>b<br>c &amp; d"
    data["categories"][data["products"][top]["c"]] = "<i>Plain</i>"
    browser.open(write_page(data, tmp_path))
    assert browser.js(TICKS, "chart-products-units")[0] == "a</b>b<br>c &amp; d"
    legend = browser.js(
        "return [...document.querySelectorAll('#chart-categories .legendtext')].map(t => t.textContent)"
    )
    assert "<i>Plain</i>" in legend
    # The hover label of the top bar: the name and its category, each on its one line.
    hover = browser.js(
        "const n = document.getElementById('chart-products-units');"
        "Plotly.Fx.hover(n, [{curveNumber: 0, pointNumber: n.data[0].y.length - 1}]);"
        "return [...n.querySelectorAll('.hoverlayer .hovertext text.nums tspan.line')].map(t => t.textContent)"
    )
    assert hover[0].strip() == "a</b>b<br>c &amp; d" and hover[-1].endswith(" · <i>Plain</i>"), hover


def evaluation(users: int, holdout_start: date, holdout_end: date) -> list[dict]:
    return [
        {
            "model": model, "k": 10, "precision_at_k": 0.0, "recall_at_k": 0.0, "ndcg_at_k": 0.0,
            "coverage": 0.0, "users": users, "holdout_start_date": holdout_start.isoformat(),
            "holdout_end_date": holdout_end.isoformat(),
        }
        for model in ("als", "popularity")
    ]  # fmt: skip


def test_an_evaluation_of_no_one_says_so_and_why(browser: Browser, collected: dict, tmp_path: Path) -> None:
    data = copy.deepcopy(collected)
    first = date.fromisoformat(data["meta"]["first_date"])
    # A run on the fourth day: the 14-day holdout would begin 10 days before the first sale.
    data["recommendation_metrics"] = evaluation(0, first - timedelta(days=10), first + timedelta(days=3))
    browser.open(write_page(data, tmp_path))
    body = browser.js("return document.getElementById('rec-metrics-body').innerText")
    assert browser.js("return document.querySelectorAll('[data-testid=rec-metrics]').length") == 0
    assert body.startswith("No customer could be evaluated.")
    assert f"the sales start on {first:%b} {first.day}, {first.year}, inside the 14-day holdout" in body

    # Evaluated, on a holdout that began before the first sale: shown from the first sale.
    data["recommendation_metrics"] = evaluation(3, first - timedelta(days=10), first + timedelta(days=3))
    browser.open(write_page(data, tmp_path))
    note = browser.js("return document.querySelector('#rec-metrics-body .note').textContent")
    end = first + timedelta(days=3)
    assert note.startswith(
        f"Purchases held out {first:%b} {first.day}, {first.year} \N{EN DASH} {end:%b} {end.day}, {end.year}"
    )
