"""The generator: the real dataset's shape and sizes, determinism, daily files, planted behaviour."""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from grocery import tables as t
from grocery.interval import DataInterval
from grocery.sources import generator as g
from grocery.sources.generator import GeneratorSource, World, generate


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_scale_one_has_the_real_sizes_without_generating_anything() -> None:
    world = World(scale=1, seed=1)
    assert world.n_customers == 98_759
    assert world.n_history_sales == 6_758_125
    assert sum(world.lines_on(d) for d in range(g.HISTORY_DAYS)) == 6_758_125
    assert (g.N_PRODUCTS, g.N_EMPLOYEES, len(g.US_CITIES), len(g.COUNTRY_NAMES), len(g.CATEGORIES)) == (
        452,
        23,
        96,
        206,
        11,
    )


def test_every_file_has_the_exact_columns_and_dimension_sizes(generated: Path) -> None:
    for table in t.TABLES:
        with open(generated / table.file_name) as f:
            assert f.readline().rstrip("\n") == ",".join(table.column_names)
    sizes = {
        name: len(_rows(generated / f"{name}.csv"))
        for name in ("categories", "countries", "cities", "employees", "products")
    }
    assert sizes == {"categories": 11, "countries": 206, "cities": 96, "employees": 23, "products": 452}
    assert len(_rows(generated / "customers.csv")) == round(98_759 * 0.005)


def test_sales_values_follow_the_published_formats_and_ranges(generated: Path) -> None:
    sales = _rows(generated / "sales.csv")
    assert len(sales) == round(6_758_125 * 0.005)
    stamp = re.compile(r"^2018-0[1-5]-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
    dated = [s["SalesDate"] for s in sales if s["SalesDate"]]
    assert all(stamp.match(d) for d in dated)
    assert 0.005 < 1 - len(dated) / len(sales) < 0.02  # about 1% without a date
    assert {s["TotalPrice"] for s in sales} == {"0.0"}
    quantities = [int(s["Quantity"]) for s in sales]
    assert min(quantities) == 1 and max(quantities) == 25 and 12 < sum(quantities) / len(quantities) < 14
    discounts = [float(s["Discount"]) for s in sales]
    assert 0.02 < sum(discounts) / len(discounts) < 0.04 and max(discounts) <= 0.2
    assert len({s["TransactionNumber"] for s in sales}) == len(sales)
    assert [int(s["SalesID"]) for s in sales] == list(range(1, len(sales) + 1))
    assert min(dated)[:10] >= "2018-01-01" and max(dated)[:10] <= "2018-05-09"


def test_australia_keeps_the_country_code_na(generated: Path) -> None:
    countries = {r["CountryName"]: r["CountryCode"] for r in _rows(generated / "countries.csv")}
    assert countries["Australia"] == "NA"


def test_the_same_seed_gives_the_same_files_and_another_seed_does_not(
    tmp_path: Path, generated: Path
) -> None:
    generate(tmp_path / "again", scale=0.005, seed=7)
    generate(tmp_path / "other", scale=0.005, seed=8)
    for table in t.TABLES:
        assert _sha(tmp_path / "again" / table.file_name) == _sha(generated / table.file_name)
    assert _sha(tmp_path / "other" / "sales.csv") != _sha(generated / "sales.csv")


def test_one_day_equals_that_days_lines_of_the_full_history(tmp_path: Path, generated: Path) -> None:
    day = date(2018, 3, 14)
    GeneratorSource(scale=0.005, seed=7).fetch(tmp_path / "day", DataInterval.day(day))
    one_day = _rows(tmp_path / "day" / "sales.csv")
    first_id = World(0.005, 7).first_sales_id((day - g.HISTORY_START).days)
    history = [r for r in _rows(generated / "sales.csv") if int(r["SalesID"]) >= first_id][: len(one_day)]
    assert one_day == history
    assert _sha(tmp_path / "day" / "customers.csv") == _sha(generated / "customers.csv")


def test_days_after_the_history_continue_with_new_sales_ids(tmp_path: Path) -> None:
    source = GeneratorSource(scale=0.005, seed=7)
    delivery = source.fetch(tmp_path / "next", DataInterval.day(date(2018, 5, 10)))
    rows = _rows(tmp_path / "next" / "sales.csv")
    assert delivery.last_sales_date == date(2018, 5, 10)
    assert min(int(r["SalesID"]) for r in rows) == round(6_758_125 * 0.005) + 1
    assert {r["SalesDate"][:10] for r in rows if r["SalesDate"]} == {"2018-05-10"}
    source.fetch(tmp_path / "after", DataInterval.day(date(2018, 5, 11)))
    later = _rows(tmp_path / "after" / "sales.csv")
    assert min(int(r["SalesID"]) for r in later) == max(int(r["SalesID"]) for r in rows) + 1


def test_days_before_the_history_are_refused_in_one_line(tmp_path: Path) -> None:
    from grocery.errors import SourceError

    source = GeneratorSource(scale=0.005, seed=7)
    for interval in (
        DataInterval.day(date(2017, 12, 31)),
        DataInterval(date(2017, 12, 30), date(2018, 1, 2)),
    ):
        with pytest.raises(
            SourceError, match=r"the generator's sales begin on 2018-01-01, as the dataset's do: "
        ) as raised:
            source.fetch(tmp_path / "before", interval)
        assert "spec.startDate" in (raised.value.hint or "")
    assert not (tmp_path / "before").exists()


def test_behaviour_is_planted_not_uniform(generated: Path) -> None:
    con = duckdb.connect()
    con.execute(f"create view s as select * from read_csv('{generated / 'sales.csv'}')")
    con.execute(f"create view p as select * from read_csv('{generated / 'products.csv'}')")
    # Skewed popularity: the top 10% of products sell far more than 10% of the lines.
    top_share = con.execute(
        "select sum(n) / (select count(*) from s) from (select count(*) n from s group by ProductID order by n desc limit 45)"
    ).fetchone()[0]
    assert top_share > 0.3
    # Repeat purchases: customers buy the same product again far more often than chance.
    repeat = con.execute("select 1 - count(distinct (CustomerID, ProductID)) / count(*) from s").fetchone()[0]
    assert repeat > 0.2
    # Category preference: a customer's top category holds well over 1/11 of their lines.
    preferred = con.execute(
        "with c as (select CustomerID, CategoryID, count(*) n from s join p using (ProductID) group by 1, 2), "
        "t as (select CustomerID, max(n) / sum(n) share, sum(n) total from c group by 1) "
        "select avg(share) from t where total >= 10"
    ).fetchone()[0]
    assert preferred > 0.4
    # Weekends are busier than Mondays.
    by_weekday = dict(
        con.execute(
            "select dayofweek(SalesDate), count(*) from s where SalesDate is not null group by 1"
        ).fetchall()
    )
    assert by_weekday[6] > by_weekday[1] * 1.1


def test_generated_products_have_the_shape_of_the_real_file(generated: Path, real_dims: Path) -> None:
    ours, real = _rows(generated / "products.csv"), _rows(real_dims / "products.csv")
    assert list(ours[0]) == list(real[0])
    for column in ("Class", "Resistant", "IsAllergic"):
        assert {r[column] for r in ours} == {r[column] for r in real}
    prices = [float(r["Price"]) for r in ours]
    assert min(prices) >= 0.04 and max(prices) <= 100
    assert 40 < sum(prices) / len(prices) < 60  # published mean 50.80


@pytest.mark.parametrize("scale", [0.0001, 2.5])
def test_any_scale_has_consistent_sizes(scale: float) -> None:
    world = World(scale=scale, seed=1)
    assert sum(world.lines_on(d) for d in range(g.HISTORY_DAYS)) == world.n_history_sales


def test_days_after_the_history_keep_its_last_level_and_weekday_pattern() -> None:
    world = World(scale=1, seed=1)
    after = g.HISTORY_DAYS  # the first day after the history
    years_later = after + 7 * 450  # the same weekday, 2026
    assert world.lines_on(years_later) == world.lines_on(after)
    week = [world.lines_on(after + d) for d in range(7)]
    assert week == [world.lines_on(years_later + d) for d in range(7)]
    assert max(week) > 1.2 * min(week)  # the weekday pattern goes on
    # Level with the history's last week, not still growing.
    assert sum(week) == pytest.approx(sum(world.lines_on(after - 7 + d) for d in range(7)), rel=0.01)


def test_sales_ids_run_on_day_by_day_after_the_history() -> None:
    """Each day's SalesIDs start where the day before ends, years after the history too (a catch-up
    of daily runs asks for each day in turn)."""
    world = World(scale=0.01, seed=1)
    days = range(g.HISTORY_DAYS - 3, g.HISTORY_DAYS + 3 * 365)
    firsts = [world.first_sales_id(d) for d in days]
    assert [b - a for a, b in pairwise(firsts)] == [world.lines_on(d) for d in days[:-1]]
