"""The dbt project and the `transform` stage, on a small warehouse whose every figure is computed by hand.

Two deliveries are loaded through `DuckDBWarehouse.replace_ingest` (the load stage's path):

2018-01-01  s1  01-01 09:00  customer 1  Flour 2.5  x2            gross  5.00  net  5.00  employee 1  T1
            s2  01-01 09:30  customer 1  Milk  4.0  x3  -25%      (replaced by the next delivery)
            s3  01-01 12:00  customer 2  Cake 10.0  x1  -50%      gross 10.00  net  5.00  employee 2  T2
            s4  no date      customer 3  Flour 2.5  x4            staged, never in fct_sales
2018-01-02  s2  01-01 09:30  customer 1  Milk  4.0  x5  -25%      gross 20.00  net 15.00  employee 1  T1
            s5  01-02 10:00  customer 3  Cake 10.0  x2            gross 20.00  net 20.00  employee 2  T3
            s6  01-02 11:00  customer 1  Flour 2.5  x4  -12.5%    gross 10.00  net  8.75  employee 1  T4
            and customer 3 is renamed Poe -> Moe in that delivery's customers.csv.

Customers 1 and 2 live in Dayton, 3 in Buffalo, 4 (never buys) in Perth. Flour and Cake are
Confections, Milk is Dairy.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dbt.cli.main", reason="dbt is not installed (pip install -e '.[dbt]')")

from pipeline_support import ORDERS
from raw_layer import CUSTOMERS, DIMENSIONS, Pipeline, make_pipeline, sale

from grocery.errors import StageError
from grocery.interval import DataInterval
from grocery.transform import build_args, interval_env, preload, project_dir
from grocery.warehouse.duckdb import DuckDBWarehouse

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

# fmt: off
DAY1 = [
    sale(1, "2018-01-01 09:00:00", customer=1, product=10, quantity=2, employee=1, transaction="T1"),
    sale(2, "2018-01-01 09:30:00", customer=1, product=11, quantity=3, discount=0.25, employee=1, transaction="T1"),
    sale(3, "2018-01-01 12:00:00", customer=2, product=12, quantity=1, discount=0.5, employee=2, transaction="T2"),
    sale(4, None, customer=3, product=10, quantity=4, employee=1, transaction="T9"),
]
DAY2 = [
    sale(2, "2018-01-01 09:30:00", customer=1, product=11, quantity=5, discount=0.25, employee=1, transaction="T1"),
    sale(5, "2018-01-02 10:00:00", customer=3, product=12, quantity=2, employee=2, transaction="T3"),
    sale(6, "2018-01-02 11:00:00", customer=1, product=10, quantity=4, discount=0.125, employee=1, transaction="T4"),
]
# fmt: on
RENAMED = [dict(c, LastName="Moe") if c["CustomerID"] == 3 else c for c in CUSTOMERS]

# sales_id: (sales_date, quantity, unit_price, gross_revenue, net_revenue)
EXPECTED_FACT = {
    1: ("2018-01-01", 2, 2.5, 5.0, 5.0),
    2: ("2018-01-01", 5, 4.0, 20.0, 15.0),
    3: ("2018-01-01", 1, 10.0, 10.0, 5.0),
    5: ("2018-01-02", 2, 10.0, 20.0, 20.0),
    6: ("2018-01-02", 4, 2.5, 10.0, 8.75),
}


def fact(p: Pipeline) -> dict[int, tuple[Any, ...]]:
    rows = p.query(
        "select sales_id, cast(sales_date as varchar) as d, quantity, unit_price, gross_revenue, net_revenue "
        "from core.fct_sales"
    )
    assert len(rows) == len({r["sales_id"] for r in rows}), "duplicate sales_id in fct_sales"
    return {
        r["sales_id"]: (r["d"], r["quantity"], r["unit_price"], r["gross_revenue"], r["net_revenue"])
        for r in rows
    }


def copy_of(p: Pipeline, tmp_path: Path) -> Pipeline:
    """A private copy of a built pipeline home (warehouse and dbt's partial-parse state) to change."""
    home = tmp_path / "copy"
    shutil.copytree(p.home, home)
    return make_pipeline(home)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, Any]:
    """Both deliveries loaded and a full `dbt build`, unit tests included; shared, never modify it."""
    from grocery.transform import build

    p = make_pipeline(tmp_path_factory.mktemp("built"))
    p.ingest("2018-01-01", DAY1)
    p.ingest("2018-01-02", DAY2, customers=RENAMED)
    ctx = p.context()
    try:
        result = build(ctx, unit_tests=True)
    finally:
        ctx.close()
    return p, result


def test_full_build_passes_every_model_data_test_and_unit_test(built: tuple[Pipeline, Any]) -> None:
    p, result = built
    # At least the staging, core and sales marts of this project (other marts may be added beside them).
    assert result.metrics["models"] >= 17
    assert result.metrics["unit_tests"] >= 7
    assert result.metrics["tests"] >= 55
    assert result.metrics["fct_sales_rows"] == 5
    slowest = result.metrics["slowest"]  # where the build's time went, slowest first
    assert 0 < len(slowest) <= 6 and list(slowest.values()) == sorted(slowest.values(), reverse=True)
    assert result.summary.startswith(f"dbt build (everything): {result.metrics['models']} models, ")
    schemas = {
        (r["s"], r["t"])
        for r in p.query("select table_schema as s, table_name as t from information_schema.tables")
    }
    for relation in [
        ("staging", "stg_grocery__sales"),
        ("staging", "int_sales_priced"),
        ("core", "fct_sales"),
        ("core", "dim_geography"),
        ("marts", "mart_customer_behavior"),
        ("marts", "mart_city_revenue"),
    ]:
        assert relation in schemas


def test_fct_sales_has_the_contract_columns_in_order(built: tuple[Pipeline, Any]) -> None:
    p, _ = built
    columns = [
        r["column_name"]
        for r in p.query(
            "select column_name from information_schema.columns "
            "where table_schema = 'core' and table_name = 'fct_sales' order by ordinal_position"
        )
    ]
    assert columns[:12] == [
        "sales_id", "transaction_number", "sales_at", "sales_date", "customer_id", "employee_id",
        "product_id", "quantity", "discount", "unit_price", "gross_revenue", "net_revenue",
    ]  # fmt: skip


def test_revenue_is_quantity_times_price_less_discount_and_the_latest_delivery_wins(
    built: tuple[Pipeline, Any],
) -> None:
    p, _ = built
    assert fact(p) == EXPECTED_FACT
    staged = p.query(
        "select quantity, cast(ingest_date as varchar) as i from staging.stg_grocery__sales where sales_id = 2"
    )
    assert staged == [{"quantity": 5, "i": "2018-01-02"}]


def test_lines_without_a_date_stay_in_staging_flagged_but_not_in_the_fact(
    built: tuple[Pipeline, Any],
) -> None:
    p, _ = built
    staged = p.query(
        "select sales_id, has_sales_date, sales_date from staging.stg_grocery__sales order by sales_id"
    )
    assert [(r["sales_id"], r["has_sales_date"]) for r in staged] == [
        (1, True), (2, True), (3, True), (4, False), (5, True), (6, True),
    ]  # fmt: skip
    assert 4 not in fact(p)


def test_dimensions_come_from_the_latest_delivery(built: tuple[Pipeline, Any]) -> None:
    p, _ = built
    customers = p.query(
        "select customer_id, last_name, city_name, country_name from core.dim_customers order by 1"
    )
    assert len(customers) == 4
    assert customers[2] == {
        "customer_id": 3,
        "last_name": "Moe",
        "city_name": "Buffalo",
        "country_name": "United States",
    }
    assert p.query("select country_code from core.dim_geography where city_id = 3") == [
        {"country_code": "NA"}
    ]
    assert p.query("select category_name from core.dim_products where product_id = 11") == [
        {"category_name": "Dairy"}
    ]


def test_customer_totals_count_each_line_once(built: tuple[Pipeline, Any]) -> None:
    p, _ = built
    rows = p.query(
        "select customer_id, order_count, line_count, units, gross_spent, total_spent, avg_order_value, "
        "cast(first_purchase_date as varchar) as first, cast(last_purchase_date as varchar) as last, has_purchases "
        "from marts.mart_customer_behavior order by customer_id"
    )
    assert [tuple(r.values()) for r in rows] == [
        (1, 2, 3, 11, 35.0, 28.75, 14.375, "2018-01-01", "2018-01-02", True),
        (2, 1, 1, 1, 10.0, 5.0, 5.0, "2018-01-01", "2018-01-01", True),
        (3, 1, 1, 2, 20.0, 20.0, 20.0, "2018-01-02", "2018-01-02", True),
        (4, 0, 0, 0, 0.0, 0.0, None, None, None, False),
    ]


def test_employee_and_city_marts_add_up(built: tuple[Pipeline, Any]) -> None:
    p, _ = built
    employees = p.query(
        "select employee_id, line_count, customers_served, units, total_revenue, revenue_rank "
        "from marts.mart_employee_performance order by employee_id"
    )
    assert [tuple(r.values()) for r in employees] == [(1, 3, 1, 11, 28.75, 1), (2, 2, 2, 3, 25.0, 2)]
    cities = p.query(
        "select city_name, line_count, net_revenue, revenue_rank from marts.mart_city_revenue order by revenue_rank"
    )
    assert [tuple(r.values()) for r in cities] == [("Dayton", 4, 33.75, 1), ("Buffalo", 1, 20.0, 2)]
    summary = p.query(
        "select cast(sales_date as varchar) as d, city_id, category_id, line_count, units, net_revenue "
        "from marts.mart_sales_summary order by 1, 2, 3"
    )
    assert [tuple(r.values()) for r in summary] == [
        ("2018-01-01", 1, 1, 2, 3, 10.0),
        ("2018-01-01", 1, 2, 1, 5, 15.0),
        ("2018-01-02", 1, 1, 1, 4, 8.75),
        ("2018-01-02", 2, 1, 1, 2, 20.0),
    ]


def test_a_renamed_member_keeps_one_row_under_its_new_name_in_the_marts_answers_and_dashboard(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # The 01-03 delivery renames a city (and its country), a category, a product and a salesperson.
    # The day-grain marts name 01-01 and 01-02 (days outside the interval) as the dimensions do now:
    # those days are built again. Every total over days is added up by id, and named as they are.
    from grocery.answers import top_answers
    from grocery.config import DashboardSpec
    from grocery.dashboard.data import collect

    p = copy_of(built[0], tmp_path)
    p.ingest(
        "2018-01-03",
        [sale(7, "2018-01-03 08:00:00", customer=1, product=10, quantity=1, employee=1)],
        customers=RENAMED,
        cities=[dict(c, CityName="Dayton City") if c["CityID"] == 1 else c for c in DIMENSIONS["cities"]],
        countries=[dict(c, CountryName="USA") if c["CountryID"] == 1 else c for c in DIMENSIONS["countries"]],
        categories=[
            dict(c, CategoryName="Sweets") if c["CategoryID"] == 1 else c for c in DIMENSIONS["categories"]
        ],
        products=[
            dict(r, ProductName="Bread flour") if r["ProductID"] == 10 else r for r in DIMENSIONS["products"]
        ],
        employees=[dict(e, LastName="Wray") if e["EmployeeID"] == 1 else e for e in DIMENSIONS["employees"]],
    )
    p.transform("2018-01-03", "2018-01-03")
    named = p.query("select distinct city_name from marts.mart_sales_summary where city_id = 1 order by 1")
    assert named == [{"city_name": "Dayton City"}]
    cities = p.query(
        "select city_id, city_name, country_name, line_count, revenue_rank from marts.mart_city_revenue order by 1"
    )
    assert cities == [
        {"city_id": 1, "city_name": "Dayton City", "country_name": "USA", "line_count": 5, "revenue_rank": 1},
        {"city_id": 2, "city_name": "Buffalo", "country_name": "USA", "line_count": 1, "revenue_rank": 2},
    ]

    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        answers = top_answers(warehouse)
        page = collect(warehouse, DashboardSpec())
    products = next(rows for title, rows in answers.items() if title.startswith("Hot-selling"))
    assert [(r["product"], r["category"], r["units"]) for r in products] == [
        ("Bread flour", "Sweets", 7), ("Milk", "Dairy", 5), ("Cake", "Sweets", 3),
    ]  # fmt: skip
    categories = answers["Revenue by product category"]
    assert [(r["category"], r["units"]) for r in categories] == [("Sweets", 10), ("Dairy", 5)]
    assert sorted(page["categories"]) == ["Dairy", "Sweets"]
    assert [c["name"] for c in page["cities"]] == ["Dayton City", "Buffalo"]
    assert sorted(r["name"] for r in page["products"]) == ["Bread flour", "Cake", "Milk"]
    assert sorted(e["name"] for e in page["employees"]) == ["Eve Wray", "Max Fox"]


def test_a_price_change_prices_the_lines_of_its_delivery_whatever_the_order_of_the_runs(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # The 01-03 delivery doubles Flour's price (2.5 -> 5.0), sells it once that day, and brings s6
    # (Flour, 01-02) again unchanged. Each line is priced with its own delivery's products: s1 keeps
    # 2.5, s6 and s7 cost 5.0. A daily run (01-03, which re-prices s6 on 01-02 too), another run of
    # 01-02 and a run over everything give the same fact: it depends on the raw data alone.
    p = copy_of(built[0], tmp_path)
    doubled = [dict(r, Price=5.0) if r["ProductID"] == 10 else r for r in DIMENSIONS["products"]]
    p.ingest(
        "2018-01-03",
        [
            DAY2[2],  # s6 again
            sale(7, "2018-01-03 08:00:00", customer=2, product=10, quantity=2, employee=2),
        ],
        customers=RENAMED,
        products=doubled,
    )
    assert p.transform("2018-01-03", "2018-01-03").metrics["extra_dates"] == ["2018-01-02"]
    after_daily_runs = fact(p)
    p.transform("2018-01-02", "2018-01-02")
    assert fact(p) == after_daily_runs
    assert after_daily_runs == {
        **EXPECTED_FACT,
        6: ("2018-01-02", 4, 5.0, 20.0, 17.5),
        7: ("2018-01-03", 2, 5.0, 10.0, 10.0),
    }
    assert p.query("select unit_price from core.dim_products where product_id = 10") == [{"unit_price": 5.0}]
    p.transform()
    assert fact(p) == after_daily_runs


def test_running_an_interval_again_leaves_the_fact_unchanged(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # The full build already took in 2018-01-02; running that day (and 01-01) again must change nothing.
    p = copy_of(built[0], tmp_path)
    result = p.transform("2018-01-02", "2018-01-02")
    assert result.summary.startswith("dbt build (2018-01-02): ")
    assert fact(p) == EXPECTED_FACT
    assert p.query("select count(*) as n from marts.mart_sales_summary") == [{"n": 4}]
    # Another interval needs no parsing: the models read the interval when they run, not when dbt
    # parses them (macros/sales_interval.sql), so dbt's partial parse finds no file to parse again.
    parse_for_another_interval = preload(p.context("2018-01-01", "2018-01-01"))
    parse_for_another_interval()
    perf_info = json.loads((p.home / "dbt" / "target" / "perf_info.json").read_text())
    assert (perf_info["is_partial_parse_enabled"], perf_info["parsed_path_count"]) == (True, 0)
    p.transform("2018-01-01", "2018-01-01")
    assert fact(p) == EXPECTED_FACT


def test_an_interval_run_replaces_its_days_and_the_days_its_delivery_changed(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    # A third delivery: s1 again with a new quantity (its day, 01-01, is outside the interval, and
    # replaced too), both lines of 01-02 again without a date (that day must end up empty), and a new
    # line on 01-03.
    p.ingest(
        "2018-01-03",
        [
            sale(1, "2018-01-01 09:00:00", customer=1, product=10, quantity=6, employee=1, transaction="T1"),
            sale(5, None, customer=3, product=12, quantity=2, employee=2, transaction="T3"),
            sale(6, None, customer=1, product=10, quantity=4, discount=0.125, employee=1, transaction="T4"),
            sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5"),
        ],
        customers=RENAMED,
    )
    result = p.transform("2018-01-02", "2018-01-03")
    assert result.metrics["extra_dates"] == ["2018-01-01"]
    assert fact(p) == {
        1: ("2018-01-01", 6, 2.5, 15.0, 15.0),
        2: EXPECTED_FACT[2],
        3: EXPECTED_FACT[3],
        7: ("2018-01-03", 1, 4.0, 4.0, 4.0),
    }
    days = p.query(
        "select distinct cast(sales_date as varchar) as d from marts.mart_sales_summary order by 1"
    )
    assert [r["d"] for r in days] == ["2018-01-01", "2018-01-03"]
    assert_day_grain_marts_equal_the_fact(p)
    perth = p.query("select total_spent from marts.mart_customer_behavior where customer_id = 4")
    assert perth == [{"total_spent": 4.0}]
    # The per-customer and per-employee marts equal what a rebuild computes from the new fact:
    # customer 3's only line lost its date, so they have no purchases left.
    assert_customer_totals_equal_a_rebuild(p)
    assert p.query(
        "select employee_id, line_count, customers_served, total_revenue from marts.mart_employee_performance order by 1"
    ) == p.query(
        "select employee_id, count(sales_id) as line_count, count(distinct customer_id) as customers_served, "
        "coalesce(sum(net_revenue), 0) as total_revenue "
        "from core.dim_employees left join core.fct_sales using (employee_id) group by 1 order by 1"
    )


def assert_customer_totals_equal_a_rebuild(p: Pipeline) -> None:
    """mart_customer_behavior (over int_customer_purchases) holds what a rebuild computes from the
    fact, and no customer is left with a row of zeros."""
    assert p.query(
        "select customer_id, order_count, line_count, units, round(total_spent, 6) as total_spent, "
        "first_purchase_date, last_purchase_date, has_purchases "
        "from marts.mart_customer_behavior order by 1"
    ) == p.query(
        f"select customer_id, {ORDERS} as order_count, count(sales_id) as line_count, "
        "coalesce(sum(quantity), 0) as units, round(coalesce(sum(net_revenue), 0), 6) as total_spent, "
        "min(sales_date) as first_purchase_date, max(sales_date) as last_purchase_date, "
        "count(sales_id) > 0 as has_purchases "
        "from core.dim_customers left join core.fct_sales using (customer_id) group by 1 order by 1"
    )
    emptied = p.query("select count(*) as n from staging.int_customer_purchases where line_count = 0")
    assert emptied == [{"n": 0}]


def test_a_next_day_adds_its_lines_to_the_customer_totals_as_a_rebuild_would(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    # A delivery for 2018-01-03, after every purchase so far, so every customer in it is appended
    # rather than recomputed: customer 1 goes on with order T4 of 01-02 (it must count once),
    # places a new one and buys twice more without a transaction number (two orders of their own),
    # customer 2 comes back, customer 4 buys for the first time.
    p.ingest(
        "2018-01-03",
        [
            sale(7, "2018-01-03 00:05:00", customer=1, product=12, quantity=1, employee=1, transaction="T4"),
            sale(8, "2018-01-03 10:00:00", customer=1, product=10, quantity=2, employee=1, transaction="T6"),
            sale(11, "2018-01-03 10:30:00", customer=1, product=11, quantity=1, employee=1, transaction=""),
            sale(12, "2018-01-03 10:40:00", customer=1, product=11, quantity=1, employee=1, transaction=""),
            sale(9, "2018-01-03 11:00:00", customer=2, product=11, quantity=1, employee=2, transaction="T7"),
            sale(
                10,
                "2018-01-03 12:00:00",
                customer=4,
                product=12,
                quantity=3,
                discount=0.1,
                employee=2,
                transaction="T8",
            ),
        ],
        customers=RENAMED,
    )
    p.transform("2018-01-03", "2018-01-03")
    customer_1 = p.query(
        "select order_count, line_count from staging.int_customer_purchases where customer_id = 1"
    )
    assert customer_1 == [{"order_count": 5, "line_count": 7}]  # T1, T4, T6 and the two unnamed lines
    assert_customer_totals_equal_a_rebuild(p)


def test_orders_count_once_while_their_lines_come_and_go(built: tuple[Pipeline, Any], tmp_path: Path) -> None:
    # The models count orders with int_multi_line_transactions (macros/count_orders.sql), which a
    # day's run only adds to. T4 (01-02) gets a second line on 01-03, so it is listed; T1 loses its
    # second line (delivered again without a date), so it is listed though it has one line left.
    # Every order count must still equal counting distinct, and a run over everything drops T1.
    p = copy_of(built[0], tmp_path)
    p.ingest(
        "2018-01-03",
        [
            sale(2, None, customer=1, product=11, quantity=5, discount=0.25, employee=1, transaction="T1"),
            sale(7, "2018-01-03 00:05:00", customer=1, product=12, quantity=1, employee=1, transaction="T4"),
        ],
        customers=RENAMED,
    )
    listed = "select transaction_number from staging.int_multi_line_transactions order by 1"
    # T1's day; the run also takes in 01-03, a day of the new delivery: T4's second line, whose first
    # is of the day before.
    assert p.transform("2018-01-01", "2018-01-01").metrics["extra_dates"] == ["2018-01-03"]
    assert p.query(listed) == [{"transaction_number": "T1"}, {"transaction_number": "T4"}]
    assert p.transform("2018-01-03", "2018-01-03").metrics["extra_dates"] == []
    assert p.query(listed) == [{"transaction_number": "T1"}, {"transaction_number": "T4"}]
    lines = "select transaction_number, count(*) as n from core.fct_sales group by 1 order by 1"
    assert p.query(lines) == [
        {"transaction_number": t, "n": n} for t, n in (("T1", 1), ("T2", 1), ("T3", 1), ("T4", 2))
    ]
    for mart, keys in (
        ("mart_daily_sales", "sales_date"),
        ("mart_daily_category_sales", "sales_date, category_id"),
    ):
        assert p.query(f"select {keys}, order_count from marts.{mart} order by all") == p.query(
            f"select {keys}, {ORDERS} as order_count "
            "from core.fct_sales join core.dim_products using (product_id) group by all order by all"
        ), mart
    assert_customer_totals_equal_a_rebuild(p)
    p.transform()
    assert p.query(listed) == [{"transaction_number": "T4"}]


# Each incremental day-grain mart, as the aggregate of fct_sales it must equal after any run.
DAY_GRAIN_MARTS = {
    "mart_daily_sales": ("sales_date", ORDERS),
    "mart_daily_category_sales": ("sales_date, category_id", ORDERS),
    "mart_product_daily_sales": ("sales_date, product_id", "sum(quantity)"),
    "mart_employee_daily_sales": ("sales_date, employee_id, category_id", "sum(quantity)"),
}


@pytest.mark.parametrize("mart", sorted(DAY_GRAIN_MARTS))
def test_day_grain_marts_replace_their_interval_days_like_fct_sales(
    built: tuple[Pipeline, Any], tmp_path: Path, mart: str
) -> None:
    # The same third delivery as above: 01-02 empties, 01-03 appears, 01-01 (outside) stays as built.
    p = copy_of(built[0], tmp_path)
    p.ingest(
        "2018-01-03",
        [
            sale(5, None, customer=3, product=12, quantity=2, employee=2, transaction="T3"),
            sale(6, None, customer=1, product=10, quantity=4, discount=0.125, employee=1, transaction="T4"),
            sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5"),
            sale(8, "2018-01-03 09:00:00", customer=4, product=12, quantity=2, employee=2, transaction="T5"),
            sale(9, "2018-01-03 10:00:00", customer=4, product=12, quantity=1, employee=2, transaction=""),
        ],
        customers=RENAMED,
    )
    # Mark the day outside the interval (in a column no reconciliation test reads): an incremental
    # run leaves it alone, a rebuild would not.
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        warehouse.con.execute(
            f"update marts.{mart} set gross_revenue = -1 where sales_date = date '2018-01-01'"
        )
    p.transform("2018-01-02", "2018-01-03")
    keys, measure = DAY_GRAIN_MARTS[mart]
    counted = "order_count" if measure == ORDERS else "units"
    got = p.query(
        f"select {keys}, line_count, {counted} as m, net_revenue from marts.{mart} "
        "where sales_date > date '2018-01-01' order by all"
    )
    expected = p.query(
        f"select {keys}, count(*) as line_count, {measure} as m, sum(net_revenue) as net_revenue "
        "from core.fct_sales join core.dim_products using (product_id) "
        "where sales_date > date '2018-01-01' group by all order by all"
    )
    assert got == expected
    assert {str(r["sales_date"]) for r in got} == {"2018-01-03"}  # 01-02 emptied, 01-03 added
    untouched = p.query(
        f"select distinct gross_revenue from marts.{mart} where sales_date = date '2018-01-01'"
    )
    assert untouched == [{"gross_revenue": -1}]


def assert_day_grain_marts_equal_the_fact(p: Pipeline) -> None:
    """Every day of every incremental day-grain mart holds what the fact adds up to, every day
    held once: no day keeps a line the fact no longer has."""
    for mart, (keys, measure) in {
        **DAY_GRAIN_MARTS,
        "mart_sales_summary": ("sales_date, city_id, category_id", "sum(quantity)"),
    }.items():
        counted = "order_count" if measure == ORDERS else "units"
        assert p.query(
            f"select {keys}, line_count, {counted} as m, round(net_revenue, 6) as r from marts.{mart} order by all"
        ) == p.query(
            f"select {keys}, count(*) as line_count, {measure} as m, round(sum(net_revenue), 6) as r "
            "from core.fct_sales join core.dim_products using (product_id) "
            "join core.dim_customers using (customer_id) group by all order by all"
        ), mart


def test_money_is_whole_millionths_so_a_total_is_the_same_whichever_runs_added_it_up(tmp_path: Path) -> None:
    # A 12.5% discount on a four-decimal price: the line's revenue has seven decimals. The daily
    # runs add each day to the customer's total; running the day again recomputes it from the
    # history; a run over everything sums every line at once. All three give the same total.
    products = [dict(r, Price=2.0001) if r["ProductID"] == 10 else r for r in DIMENSIONS["products"]]

    def line(sales_id: int, day: str) -> dict[str, Any]:
        return sale(sales_id, f"{day} 10:00:00", customer=1, product=10, quantity=1, discount=0.125)

    p = make_pipeline(tmp_path / "home")
    p.ingest("2018-01-01", [line(1, "2018-01-01")], products=products)
    p.transform("2018-01-01", "2018-01-01")
    p.ingest("2018-01-02", [line(2, "2018-01-02")], products=products)
    p.transform("2018-01-02", "2018-01-02")
    assert fact(p)[1][4] == 1.750088  # 1.7500875, to a millionth
    spent = "select total_spent from marts.mart_customer_behavior where customer_id = 1"
    assert p.query(spent) == [{"total_spent": 3.500176}]
    p.transform("2018-01-02", "2018-01-02")
    assert p.query(spent) == [{"total_spent": 3.500176}]
    p.transform()
    assert p.query(spent) == [{"total_spent": 3.500176}]
    assert p.query("select net_revenue from marts.mart_city_revenue") == [{"net_revenue": 3.500176}]


def test_a_sale_a_later_delivery_moves_to_another_day_is_in_the_fact_once_on_its_new_day(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # The 01-03 delivery brings s3 (01-01) again dated 01-02, and a new line of its own day. A run
    # of 01-03 alone must also replace 01-01 (s3 left it) and 01-02 (s3 came to it): else s3 would
    # be in the fact on 01-01 and not on 01-02, or on both after a run of 01-02.
    p = copy_of(built[0], tmp_path)
    p.ingest(
        "2018-01-03",
        [
            sale(
                3,
                "2018-01-02 12:00:00",
                customer=2,
                product=12,
                quantity=1,
                discount=0.5,
                employee=2,
                transaction="T2",
            ),
            sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5"),
        ],
        customers=RENAMED,
    )
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["extra_dates"] == ["2018-01-01", "2018-01-02"]
    assert result.summary.endswith(
        "; also rebuilt 2 days outside it, whose sales the deliveries added to, changed or withdrew: "
        "2018-01-01, 2018-01-02; dimensions unchanged, left as built"
    )
    assert fact(p) == {
        **EXPECTED_FACT,
        3: ("2018-01-02", 1, 10.0, 10.0, 5.0),
        7: ("2018-01-03", 1, 4.0, 4.0, 4.0),
    }
    assert_day_grain_marts_equal_the_fact(p)
    assert_customer_totals_equal_a_rebuild(p)
    # The next day brings nothing that moves: only its own day is replaced.
    p.ingest("2018-01-04", [], customers=RENAMED)
    again = p.transform("2018-01-04", "2018-01-04")
    assert again.metrics["extra_dates"] == [] and "also rebuilt" not in again.summary


def test_a_sale_withdrawn_by_a_day_delivered_again_leaves_the_fact_and_the_marts(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # 01-03 arrives with a late line of 01-02 (s8), which the run of 01-03 models on its day; then
    # 01-03 is delivered again without it. The run of 01-03 must take s8 out of 01-02, though no
    # delivery now holds it (the fact and staging are compared day by day: a known delivery changed).
    p = copy_of(built[0], tmp_path)
    late = sale(8, "2018-01-02 18:00:00", customer=2, product=10, quantity=3, employee=2)
    today = sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5")
    p.ingest("2018-01-03", [late, today], customers=RENAMED)
    assert p.transform("2018-01-03", "2018-01-03").metrics["extra_dates"] == ["2018-01-02"]
    assert fact(p)[8] == ("2018-01-02", 3, 2.5, 7.5, 7.5)
    assert_day_grain_marts_equal_the_fact(p)
    p.ingest("2018-01-03", [today], customers=RENAMED)
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["extra_dates"] == ["2018-01-02"]
    assert fact(p) == {**EXPECTED_FACT, 7: ("2018-01-03", 1, 4.0, 4.0, 4.0)}
    assert_day_grain_marts_equal_the_fact(p)
    assert_customer_totals_equal_a_rebuild(p)


def test_a_first_interval_run_models_every_day_its_delivery_holds(tmp_path: Path) -> None:
    # An export of more days than asked for, on a home whose fact does not exist yet: the run of
    # 01-02 builds 01-01 too, as a run over everything (every day is one to build).
    p = make_pipeline(tmp_path / "home")
    p.ingest("2018-01-02", [*DAY1, *DAY2[1:]], customers=RENAMED)
    result = p.transform("2018-01-02", "2018-01-02")
    assert result.metrics["first_build"] and result.metrics["extra_dates"] == []
    assert "; every day the deliveries hold built: the fact's first build" in result.summary
    assert fact(p) == {**EXPECTED_FACT, 2: ("2018-01-01", 3, 4.0, 12.0, 9.0)}
    again = p.transform("2018-01-02", "2018-01-02")
    assert not again.metrics["first_build"] and again.metrics["extra_dates"] == []
    assert fact(p) == {**EXPECTED_FACT, 2: ("2018-01-01", 3, 4.0, 12.0, 9.0)}


def test_a_day_delivered_again_with_another_version_of_an_older_line_replaces_that_line(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # 01-03 brings s1 (01-01) with a new quantity; then 01-03 is delivered again with s1's quantity
    # corrected once more: the same ids on the same days, other values. Each run of 01-03 replaces
    # 01-01 with the latest version.
    p = copy_of(built[0], tmp_path)
    today = sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5")
    for quantity in (6, 8):
        s1 = sale(
            1, "2018-01-01 09:00:00", customer=1, product=10, quantity=quantity, employee=1, transaction="T1"
        )
        p.ingest("2018-01-03", [s1, today], customers=RENAMED)
        assert p.transform("2018-01-03", "2018-01-03").metrics["extra_dates"] == ["2018-01-01"]
        assert fact(p)[1] == ("2018-01-01", quantity, 2.5, 2.5 * quantity, 2.5 * quantity)
    assert_day_grain_marts_equal_the_fact(p)
    assert_customer_totals_equal_a_rebuild(p)


def test_a_products_file_delivered_again_with_other_prices_reprices_its_lines_on_every_day(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # 01-03 brings s6 (Flour, 01-02) again at the same price; then 01-03 is delivered again, the
    # same sales with Flour at 5.0. s6 is priced with its delivery's products: its day is replaced.
    p = copy_of(built[0], tmp_path)
    sales = [DAY2[2], sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2)]
    p.ingest("2018-01-03", sales, customers=RENAMED)
    assert p.transform("2018-01-03", "2018-01-03").metrics["extra_dates"] == []
    assert fact(p)[6] == EXPECTED_FACT[6]
    doubled = [dict(r, Price=5.0) if r["ProductID"] == 10 else r for r in DIMENSIONS["products"]]
    p.ingest("2018-01-03", sales, customers=RENAMED, products=doubled)
    assert p.transform("2018-01-03", "2018-01-03").metrics["extra_dates"] == ["2018-01-02"]
    assert fact(p)[6] == ("2018-01-02", 4, 5.0, 20.0, 17.5)
    assert_day_grain_marts_equal_the_fact(p)


def test_a_failed_build_still_owes_its_extra_days_to_the_next_run(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # s3 moves from 01-01 to 01-03 in a delivery that also holds a sale of an unknown customer: the
    # run replaces 01-01 and 01-03 in the fact, whose relationships test then fails, so the marts
    # are not built. The fact no longer shows that 01-01 changed; the next run must replace it anyway.
    p = copy_of(built[0], tmp_path)
    moved = sale(
        3,
        "2018-01-03 12:00:00",
        customer=2,
        product=12,
        quantity=1,
        discount=0.5,
        employee=2,
        transaction="T2",
    )
    unknown = sale(9, "2018-01-03 09:00:00", customer=99, product=10, quantity=1)
    p.ingest("2018-01-03", [moved, unknown], customers=RENAMED)
    with pytest.raises(StageError, match="relationships_fct_sales_customer_id"):
        p.transform("2018-01-03", "2018-01-03")
    assert fact(p)[3][0] == "2018-01-03"
    p.ingest("2018-01-03", [moved], customers=RENAMED)  # delivered again, corrected
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["extra_dates"] == ["2018-01-01"]
    assert_day_grain_marts_equal_the_fact(p)
    assert_customer_totals_equal_a_rebuild(p)


def test_the_days_a_failed_build_replaced_in_the_fact_are_owed_to_the_marts(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # The run of 01-03 (with a late line of 01-02 of an unknown customer) replaces 01-02 and 01-03 in
    # the fact, whose test then fails: the marts are skipped. The next day corrects the line; the
    # fact and staging then agree on 01-03, so only what the failed build owed brings it to the marts.
    p = copy_of(built[0], tmp_path)
    late = sale(8, "2018-01-02 18:00:00", customer=99, product=10, quantity=1, employee=2)
    today = sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5")
    p.ingest("2018-01-03", [late, today], customers=RENAMED)
    with pytest.raises(StageError, match="relationships_fct_sales_customer_id"):
        p.transform("2018-01-03", "2018-01-03")
    p.ingest("2018-01-04", [dict(late, CustomerID=4)], customers=RENAMED)
    result = p.transform("2018-01-04", "2018-01-04")
    assert result.metrics["extra_dates"] == ["2018-01-02", "2018-01-03"]
    assert_day_grain_marts_equal_the_fact(p)
    assert_customer_totals_equal_a_rebuild(p)


def test_a_first_build_that_failed_is_owed_whole(tmp_path: Path) -> None:
    # The first build (over every day) fails on a test after the fact is built: the marts are not.
    # The run after it must build every day again, not the interval's alone.
    p = make_pipeline(tmp_path / "home")
    p.ingest("2018-01-01", DAY1)
    unknown = sale(9, "2018-01-02 10:00:00", customer=99, product=10, quantity=1)
    p.ingest("2018-01-02", [*DAY2, unknown], customers=RENAMED)
    with pytest.raises(StageError, match="relationships_fct_sales_customer_id"):
        p.transform("2018-01-02", "2018-01-02")
    p.ingest("2018-01-02", DAY2, customers=RENAMED)  # delivered again, corrected
    result = p.transform("2018-01-02", "2018-01-02")
    assert result.metrics["first_build"]
    assert "every day the deliveries hold built: a build over everything that did not pass" in result.summary
    assert fact(p) == EXPECTED_FACT
    assert_day_grain_marts_equal_the_fact(p)
    assert not p.transform("2018-01-02", "2018-01-02").metrics["first_build"]


def test_the_unique_test_of_sales_id_sees_a_line_twice_on_a_day_outside_the_interval(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    with DuckDBWarehouse(p.warehouse_path) as warehouse:  # s1 once more, on 01-02
        warehouse.con.execute(
            "insert into core.fct_sales select * replace (date '2018-01-02' as sales_date) "
            "from core.fct_sales where sales_id = 1"
        )
    p.ingest("2018-01-03", DAY3, customers=RENAMED)
    with pytest.raises(StageError, match=r"test unique_fct_sales_sales_id \(1 failing row\)"):
        p.transform("2018-01-03", "2018-01-03")


# The incremental models, each with a change the test below can mark its rows with.
INCREMENTAL_MODELS = {
    "core.fct_sales": "gross_revenue = -1",
    "staging.int_customer_purchases": "units = -1",
    "staging.int_multi_line_transactions": "transaction_number = transaction_number || '-marked'",
    "marts.mart_sales_summary": "units = -1",
    **{f"marts.{mart}": "gross_revenue = -1" for mart in DAY_GRAIN_MARTS},
}


def test_a_run_over_everything_rebuilds_every_incremental_model(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # No model's config says so (macros/should_full_refresh.sql): with no interval, the incremental
    # models are rebuilt, so a value written by hand is gone and every table is the full build's again.
    p = copy_of(built[0], tmp_path)
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        for relation, mark in INCREMENTAL_MODELS.items():
            warehouse.con.execute(f"update {relation} set {mark}")
    p.transform()
    for relation in INCREMENTAL_MODELS:
        everything = f"select * from {relation} order by all"
        assert p.query(everything) == built[0].query(everything), relation


def test_a_fact_built_by_other_models_says_how_to_rebuild_it(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    """After an upgrade that changes fct_sales' columns, an interval run cannot add to the old table
    (on_schema_change='fail'): the error says that a run over everything rebuilds it, and that run does."""
    p = copy_of(built[0], tmp_path)
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        warehouse.con.execute(
            "alter table core.fct_sales drop column discount"
        )  # as an older version made it
    with pytest.raises(StageError, match=r"model fct_sales \(.*out of sync") as raised:
        p.transform("2018-01-02", "2018-01-02")
    assert (raised.value.hint or "").startswith(
        "fct_sales in the warehouse has other columns than the models now make: run `grocery transform` "
        "without --date/--start/--end to rebuild from everything; see "
    )
    p.transform()
    assert fact(p) == EXPECTED_FACT


def test_a_data_problem_fails_the_stage_with_one_line_naming_the_failed_tests(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    # A sale of a customer no delivery has listed: the load would have quarantined it, so it is
    # written straight into raw here, where only the warehouse's tests can see it.
    p.ingest(
        "2018-01-03", [sale(8, "2018-01-03 09:00:00", customer=99, product=10, quantity=1)], customers=RENAMED
    )
    with pytest.raises(StageError) as raised:
        p.transform()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("dbt build failed (everything): ")
    assert "relationships_fct_sales_customer_id" in message
    assert "1 failing row" in message


# A line for 2018-01-03, in deliveries that repeat or change the dimensions.
DAY3 = [sale(7, "2018-01-03 08:00:00", customer=4, product=11, quantity=1, employee=2, transaction="T5")]


def mark_dim_customers(p: Pipeline) -> None:
    """Write into core.dim_customers what no build computes: a rebuild of the model replaces it."""
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        warehouse.con.execute("update core.dim_customers set last_name = 'Marked' where customer_id = 4")


def dim_customer_4(p: Pipeline) -> str:
    return p.query("select last_name from core.dim_customers where customer_id = 4")[0]["last_name"]


def test_an_interval_whose_dimensions_are_unchanged_builds_only_what_follows_the_sales(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    p.ingest("2018-01-03", DAY3, customers=RENAMED)  # the same dimension rows as the 01-02 delivery
    mark_dim_customers(p)
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["dimensions_rebuilt"] is False
    assert result.summary.endswith("; dimensions unchanged, left as built")
    full = built[1].metrics
    assert result.metrics["models"] < full["models"] and result.metrics["tests"] < full["tests"]
    assert dim_customer_4(p) == "Marked"  # left as built
    # Everything that follows from the sales took the new day in, the relationships tests included.
    assert fact(p) == {**EXPECTED_FACT, 7: ("2018-01-03", 1, 4.0, 4.0, 4.0)}
    assert_customer_totals_equal_a_rebuild(p)
    assert (
        "relationships_fct_sales_customer_id"
        in (p.home / "dbt" / "logs" / "dbt.log").read_text().split("Running with dbt=")[-1]
    )


def test_an_interval_with_a_changed_dimension_rebuilds_the_dimensions(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    renamed_again = [dict(c, LastName="Roe") if c["CustomerID"] == 4 else c for c in RENAMED]
    p.ingest("2018-01-03", DAY3, customers=renamed_again)
    mark_dim_customers(p)
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["dimensions_rebuilt"] is True
    assert result.metrics["models"] == built[1].metrics["models"]
    assert dim_customer_4(p) == "Roe"
    # The next day repeats that delivery's dimensions: they are left as this build made them.
    p.ingest("2018-01-04", [], customers=renamed_again)
    mark_dim_customers(p)
    assert p.transform("2018-01-04", "2018-01-04").metrics["dimensions_rebuilt"] is False
    assert dim_customer_4(p) == "Marked"


def test_a_member_moved_to_another_city_or_category_moves_its_older_days_in_the_marts(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # Day 3 moves customer 1 (lines on 01-01 and 01-02) to a city of another country, and product 12
    # (a line on 01-01) to another category. The day-grain marts keep each day's members as they
    # were when the day was built: those days are built again, as a build over everything would.
    p = copy_of(built[0], tmp_path)
    moved = [dict(c, CityID=3) if c["CustomerID"] == 1 else c for c in RENAMED]
    recategorized = [
        dict(r, CategoryID=3 - r["CategoryID"]) if r["ProductID"] == 12 else r for r in DIMENSIONS["products"]
    ]
    p.ingest("2018-01-03", DAY3, customers=moved, products=recategorized)
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["member_dates"] == ["2018-01-01", "2018-01-02"]
    assert result.summary.endswith(
        "; also rebuilt 2 days whose lines' customers, products or salespeople the new dimensions moved "
        "or renamed: 2018-01-01, 2018-01-02"
    )
    assert result.metrics["models"] == built[1].metrics["models"]  # the dimensions, then the sales
    assert_day_grain_marts_equal_the_fact(p)
    names = "select distinct sales_date, category_id, category_name from marts.mart_daily_category_sales order by all"
    assert p.query(names) == p.query(
        "select distinct sales_date, category_id, category_name "
        "from core.fct_sales join core.dim_products using (product_id) order by all"
    )
    by_city = "select city_id, round(net_revenue, 6) as r from marts.mart_city_revenue order by 1"
    assert p.query(by_city) == p.query(
        "select city_id, round(sum(net_revenue), 6) as r "
        "from core.fct_sales join core.dim_customers using (customer_id) group by 1 order by 1"
    )
    assert_marts_equal_a_rebuild(p, tmp_path)
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        assert not warehouse.exists("staging", "transform_dimension_members")  # kept until the run passed
    # A member that is new changes no day.
    newcomer = {**CUSTOMERS[3], "CustomerID": 5, "FirstName": "Flo"}
    p.ingest("2018-01-04", [], customers=[*moved, newcomer], products=recategorized)
    result = p.transform("2018-01-04", "2018-01-04")
    assert result.metrics["dimensions_rebuilt"] and result.metrics["member_dates"] == []


def assert_marts_equal_a_rebuild(p: Pipeline, tmp_path: Path) -> None:
    """Every mart of the pipeline holds what a build over everything of the same deliveries makes."""
    rebuilt = make_pipeline(shutil.copytree(p.home, tmp_path / "rebuilt"))
    rebuilt.transform()
    marts = [
        r["table_name"] for r in p.query("select table_name from duckdb_tables() where schema_name = 'marts'")
    ]
    assert marts
    for mart in marts:
        query = f"select * from marts.{mart} order by all"
        assert p.query(query) == rebuilt.query(query), mart


def test_a_change_the_marts_do_not_keep_rebuilds_no_day(built: tuple[Pipeline, Any], tmp_path: Path) -> None:
    # Day 3 changes a product's price and a customer's address: the dimensions are rebuilt, but no
    # day-grain mart keeps either, so no day outside the interval is replaced, and the marts are
    # still what a build over everything makes.
    p = copy_of(built[0], tmp_path)
    moved = [dict(c, Address="9 Pine St") if c["CustomerID"] == 1 else c for c in RENAMED]
    repriced = [dict(r, Price=3.5) if r["ProductID"] == 12 else r for r in DIMENSIONS["products"]]
    p.ingest("2018-01-03", DAY3, customers=moved, products=repriced)
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["dimensions_rebuilt"] and result.metrics["member_dates"] == []
    assert_marts_equal_a_rebuild(p, tmp_path)


def test_the_days_of_changed_members_are_owed_by_a_run_that_failed_after_the_dimensions(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # Day 3 moves customer 1 to another city, with a sale of an unknown customer: the dimensions
    # are rebuilt, then the fact's relationships test fails and the marts are not built. The next
    # run finds the dimensions as that one left them, and must still rebuild customer 1's days.
    p = copy_of(built[0], tmp_path)
    moved = [dict(c, CityID=3) if c["CustomerID"] == 1 else c for c in RENAMED]
    unknown = sale(9, "2018-01-03 09:00:00", customer=99, product=10, quantity=1)
    p.ingest("2018-01-03", [*DAY3, unknown], customers=moved)
    with pytest.raises(StageError, match="relationships_fct_sales_customer_id"):
        p.transform("2018-01-03", "2018-01-03")
    p.ingest("2018-01-03", DAY3, customers=moved)  # delivered again, corrected
    result = p.transform("2018-01-03", "2018-01-03")
    assert {*result.metrics["member_dates"], *result.metrics["extra_dates"]} == {"2018-01-01", "2018-01-02"}
    assert_day_grain_marts_equal_the_fact(p)


def test_a_member_the_latest_delivery_no_longer_lists_keeps_its_row_and_its_sales(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    # Customer 3 (renamed Moe on day 2) and product 12 leave, with sales in the history: an account
    # closed, a product discontinued. The marts still add up to the fact (their test passes).
    p.ingest(
        "2018-01-03",
        DAY3,
        customers=[c for c in RENAMED if c["CustomerID"] != 3],
        products=[r for r in DIMENSIONS["products"] if r["ProductID"] != 12],
    )
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["dimensions_rebuilt"] is True
    assert p.query("select last_name, in_latest_snapshot from core.dim_customers where customer_id = 3") == [
        {"last_name": "Moe", "in_latest_snapshot": False}
    ]
    assert p.query("select count(*) as n from core.dim_customers where in_latest_snapshot") == [{"n": 3}]
    assert p.query("select in_latest_snapshot from core.dim_products where product_id = 12") == [
        {"in_latest_snapshot": False}
    ]
    assert p.query("select total_spent from marts.mart_customer_behavior where customer_id = 3") == [
        {"total_spent": EXPECTED_FACT[5][4]}
    ]


def test_a_late_delivery_of_an_older_day_rebuilds_the_dimensions(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    p.ingest("2018-01-04", [], customers=RENAMED)  # the same dimension rows as the 01-02 delivery
    assert p.transform("2018-01-04", "2018-01-04").metrics["dimensions_rebuilt"] is False
    # 2018-01-03 arrives late (a backfill), with a customer that only its delivery lists, who buys
    # that day: the load accepts the sale, as its own delivery lists the customer.
    newcomer = {**CUSTOMERS[3], "CustomerID": 5, "FirstName": "Flo"}
    p.ingest(
        "2018-01-03",
        [sale(7, "2018-01-03 08:00:00", customer=5, product=11, quantity=1, transaction="T5")],
        customers=[*RENAMED, newcomer],
    )
    result = p.transform("2018-01-03", "2018-01-03")
    assert result.metrics["dimensions_rebuilt"] is True
    assert p.query("select first_name, in_latest_snapshot from core.dim_customers where customer_id = 5") == [
        {"first_name": "Flo", "in_latest_snapshot": False}
    ]
    assert p.query("select total_spent from marts.mart_customer_behavior where customer_id = 5") == [
        {"total_spent": 4.0}
    ]


def test_an_interval_after_a_change_of_the_dbt_project_rebuilds_the_dimensions(
    built: tuple[Pipeline, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grocery.transform

    p = copy_of(built[0], tmp_path)
    p.ingest("2018-01-03", DAY3, customers=RENAMED)
    mark_dim_customers(p)
    monkeypatch.setattr(grocery.transform, "project_fingerprint", lambda project, target: "another project")
    assert p.transform("2018-01-03", "2018-01-03").metrics["dimensions_rebuilt"] is True
    assert dim_customer_4(p) != "Marked"


def test_a_failed_build_forgets_the_dimensions_so_the_next_interval_rebuilds_them(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    p = copy_of(built[0], tmp_path)
    # Customer 2 twice in one delivery: the dimensions are rebuilt, and their unique test fails.
    twice = [*RENAMED, *(dict(c, LastName="Poe") for c in RENAMED if c["CustomerID"] == 2)]
    p.ingest("2018-01-03", [], customers=twice)
    with pytest.raises(StageError, match=r"^dbt build of the dimensions failed \(2018-01-03\): test "):
        p.transform("2018-01-03", "2018-01-03")
    # The next delivery brings back the rows the dimensions had before that build: the tables may hold
    # either, so they are rebuilt.
    p.ingest("2018-01-04", [], customers=RENAMED)
    mark_dim_customers(p)
    result = p.transform("2018-01-04", "2018-01-04")
    assert result.metrics["dimensions_rebuilt"] is True
    assert dim_customer_4(p) != "Marked"


def test_the_project_fingerprint_follows_the_project_files_not_what_dbt_writes_beside_them(
    tmp_path: Path,
) -> None:
    from grocery.transform import project_fingerprint

    project = tmp_path / "dbt"
    shutil.copytree(project_dir(), project)
    first = project_fingerprint(project, "duckdb")
    for written in ("target/manifest.json", "logs/dbt.log", "models/__pycache__/x.pyc"):
        (project / written).parent.mkdir(parents=True, exist_ok=True)
        (project / written).write_text("anything")
    assert project_fingerprint(project, "duckdb") == first
    assert project_fingerprint(project, "bigquery") != first  # another adapter builds it
    model = project / "models" / "core" / "dim_customers.sql"
    model.write_text(model.read_text() + "\n-- a comment\n")
    edited = project_fingerprint(project, "duckdb")
    assert edited != first
    model.rename(project / "models" / "core" / "dim_clients.sql")
    assert project_fingerprint(project, "duckdb") not in (first, edited)


@pytest.mark.parametrize(
    ("repeated_id", "bitmap"), [(1, True), (10**12, False)], ids=["dense ids", "sparse ids"]
)
def test_the_unique_test_finds_a_repeated_id_with_or_without_the_bitmap(
    built: tuple[Pipeline, Any], tmp_path: Path, repeated_id: int, bitmap: bool
) -> None:
    """DuckDB's unique test (macros/test_unique.sql) sets integer ids in a bitmap of their range
    when it is dense (customers 1-4 and a second 1), and groups them otherwise (1-4 and 10^12 twice)."""
    from grocery.transform import dbt_build

    p = copy_of(built[0], tmp_path)
    copies = 1 if repeated_id == 1 else 2
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        for _ in range(copies):
            warehouse.con.execute(
                f"insert into core.dim_customers select * replace ({repeated_id} as customer_id) "
                "from core.dim_customers where customer_id = 1"
            )
    ctx = p.context()
    try:  # the tests of dim_customers only: a build of the model would replace the broken table
        with pytest.raises(StageError) as raised:
            dbt_build(ctx, extra_args=["--select", "dim_customers", "--resource-type", "test"])
    finally:
        ctx.close()
    failed = str(raised.value).split(": ", 1)[1]
    assert failed.startswith("test unique_dim_customers_customer_id (1 failing row)")
    (compiled,) = (p.home / "dbt" / "target").rglob("compiled/**/unique_dim_customers_customer_id.sql")
    assert ("bitstring_agg" in compiled.read_text()) is bitmap


def test_the_interval_reaches_dbt_in_the_environment_not_in_vars() -> None:
    from datetime import date

    assert interval_env(DataInterval.everything()) == {"GROCERY_START_DATE": "", "GROCERY_END_DATE": ""}
    day = DataInterval.day(date(2018, 5, 9))
    assert interval_env(day) == {"GROCERY_START_DATE": "2018-05-09", "GROCERY_END_DATE": "2018-05-09"}
    args = build_args("duckdb", Path("/p"), Path("/w"), "none", unit_tests=False)
    assert "--vars" not in args  # a change of vars would make dbt re-parse the whole project
    assert args[args.index("--target-path") + 1] == "/w/target"
    assert "unit_test" in args


def test_project_dir_is_the_repository_dbt_folder_unless_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GROCERY_DBT_PROJECT_DIR", raising=False)
    assert (project_dir() / "dbt_project.yml").is_file()
    monkeypatch.setenv("GROCERY_DBT_PROJECT_DIR", str(tmp_path))
    with pytest.raises(StageError, match="no dbt project"):
        project_dir()


def render(output: dict[str, Any]) -> dict[str, Any]:
    """A profile output as dbt renders it from the current environment."""
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(dict(os.environ))  # what dbt does when a command starts
    return ProfileRenderer({}).render_data(output)


def profile_output(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((project_dir() / "profiles.yml").read_text())["grocery"]["outputs"][name]


def test_dbt_and_the_warehouse_write_duckdb_with_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from grocery.warehouse.duckdb import DISABLED_COMPRESSION

    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    target, env = warehouse.dbt_target()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    output = render(profile_output(target))
    assert output["path"] == str(tmp_path / "w.duckdb")
    assert output["settings"]["disabled_compression_methods"] == DISABLED_COMPRESSION
    setting = "select current_setting('disabled_compression_methods')"
    assert warehouse.con.execute(setting).fetchone()[0].lower() == DISABLED_COMPRESSION
    warehouse.close()


def test_bigquery_profile_renders_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROCERY_BQ_PROJECT", "acme")
    monkeypatch.setenv("GROCERY_BQ_DATASET_PREFIX", "dev_")
    monkeypatch.setenv("GROCERY_BQ_LOCATION", "US")
    monkeypatch.delenv("GROCERY_BQ_API_ENDPOINT", raising=False)
    monkeypatch.setenv("GROCERY_BQ_JOB_RETRIES", "0")
    output = render(profile_output("bigquery"))
    assert output["project"] == "acme"
    assert output["dataset"] == "dev_core"
    assert output["location"] == "US"
    assert output["method"] == "oauth"
    assert output["api_endpoint"] is None
    assert output["job_retries"] == 0
    monkeypatch.setenv("GROCERY_BQ_API_ENDPOINT", "http://127.0.0.1:9050")
    assert render(profile_output("bigquery"))["api_endpoint"] == "http://127.0.0.1:9050"


def test_a_warehouse_without_the_raw_tables_is_one_line_naming_them_before_dbt_runs(
    built: tuple[Pipeline, Any], tmp_path: Path
) -> None:
    # Not one dbt error per staging model ("Catalog Error: Table with name cities does not exist!").
    empty = make_pipeline(tmp_path / "empty")
    with pytest.raises(StageError) as raised:
        empty.transform()
    assert str(raised.value) == "the warehouse has no raw tables yet (run `grocery load` first)"
    assert not (empty.home / "dbt").exists()  # dbt never started

    p = copy_of(built[0], tmp_path)
    with DuckDBWarehouse(p.warehouse_path) as warehouse:
        warehouse.query("drop table raw.products")
    with pytest.raises(
        StageError, match=r"^the warehouse has no raw\.products yet \(run `grocery load` first\)$"
    ):
        p.transform()
