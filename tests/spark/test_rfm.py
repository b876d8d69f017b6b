"""RFM on small inline frames: exact scores at quintile edges, ties, one purchase, none."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import permutations, product
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from grocery.spark.rfm import (
    NO_PURCHASES,
    RFM_COLUMNS,
    SEGMENT_GRID,
    SEGMENTS,
    customer_rfm,
    score_rfm,
    segment_for,
    segments_of,
)

AS_OF = date(2018, 5, 9)
# The export's columns (grocery.spark.export), and a sales_id to tell the lines apart. A line's
# multi_line_transaction names its transaction when it has several lines, else it is null.
SALES_SCHEMA = (
    "sales_id long, multi_line_transaction string, sales_date date, customer_id long, net_revenue double"
)


def sales_frame(spark, rows):
    return spark.createDataFrame(rows, SALES_SCHEMA)


def lines(customer: int, count: int, days_ago: int = 0, revenue: float = 1.0, start_id: int = 0):
    """`count` lines of one customer, each its own transaction, the newest `days_ago` days before AS_OF."""
    return [
        (start_id + i, None, AS_OF - timedelta(days=days_ago + i), customer, revenue) for i in range(count)
    ]


def collect(table: pa.Table) -> list[SimpleNamespace]:
    return [SimpleNamespace(**row) for row in table.to_pylist()]


def scores(table: pa.Table) -> dict[int, tuple]:
    return {r.customer_id: (r.r_score, r.f_score, r.m_score) for r in collect(table)}


def test_ten_distinct_frequencies_fill_each_quintile_with_two_customers(spark):
    rows = [line for c in range(1, 11) for line in lines(c, c, start_id=c * 100)]
    rfm = customer_rfm(sales_frame(spark, rows), AS_OF, bins=5)
    f = {r.customer_id: r.f_score for r in collect(rfm)}
    assert [f[c] for c in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_ties_share_the_higher_score_whatever_the_row_order(spark):
    # Frequencies 1, 1, 1, 1, 5: four of five customers are "no better than" 1 -> ceil(5 * 4/5) = 4.
    rows = (
        lines(1, 1, start_id=10)
        + lines(2, 1, start_id=20)
        + lines(3, 1, start_id=30)
        + lines(4, 1, start_id=40)
    )
    rows += lines(5, 5, start_id=50)
    for ordered in (rows, list(reversed(rows))):
        f = {r.customer_id: r.f_score for r in collect(customer_rfm(sales_frame(spark, ordered), AS_OF))}
        assert f == {1: 4, 2: 4, 3: 4, 4: 4, 5: 5}


def test_recency_counts_from_the_as_of_date_and_ignores_later_sales(spark):
    rows = [
        (1, "A", AS_OF - timedelta(days=10), 1, 5.0),
        (2, "B", AS_OF + timedelta(days=3), 1, 100.0),  # after the interval: not counted
        (3, "C", AS_OF, 2, 7.0),
    ]
    out = {r.customer_id: r for r in collect(customer_rfm(sales_frame(spark, rows), AS_OF))}
    assert (out[1].recency_days, out[1].frequency, out[1].monetary) == (10, 1, 5.0)
    assert (out[2].recency_days, out[2].frequency, out[2].monetary) == (0, 1, 7.0)
    assert out[1].as_of_date == AS_OF


def test_frequency_counts_transactions_and_monetary_is_net_revenue(spark):
    rows = [
        (1, "T1", AS_OF, 1, 2.5),
        (2, "T1", AS_OF, 1, 1.5),  # T1 has two lines: one transaction
        (3, None, AS_OF, 1, 1.0),  # unnamed: a transaction of its own (or a line without a number)
        (4, None, AS_OF, 1, 0.5),  # ... and another
        (5, "T2", AS_OF - timedelta(days=1), 1, 0.25),  # named, one line left: one transaction
        (6, "T3", AS_OF - timedelta(days=2), 1, 0.125),  # T3 has a dated line ...
        (7, "T3", AS_OF + timedelta(days=1), 1, 8.0),  # ... and one after the as-of date: one, 0.125
        (8, "T4", AS_OF + timedelta(days=1), 1, 8.0),  # no line up to the as-of date: none
        (9, None, AS_OF + timedelta(days=2), 1, 8.0),  # likewise
    ]
    (row,) = collect(customer_rfm(sales_frame(spark, rows), AS_OF))
    assert (row.frequency, row.monetary) == (5, 5.875)
    assert (row.first_purchase_date, row.last_purchase_date) == (AS_OF - timedelta(days=2), AS_OF)


def test_monetary_does_not_depend_on_the_order_of_the_lines(spark):
    # One basket of three lines, summing to exactly 171.83885: as doubles, four of the six orders
    # give 171.83884999999998 (rounded: 171.8388) and two give 171.83885 (rounded: 171.8389).
    # One input partition, so Spark adds the lines in the order given.
    revenues = (63.53821, 29.08216, 79.21848)
    for order in permutations(revenues):
        rows = [(i, "T1", AS_OF, 1, revenue) for i, revenue in enumerate(order)]
        (row,) = collect(customer_rfm(sales_frame(spark, rows).coalesce(1), AS_OF))
        assert row.monetary == 171.8389, order


def test_one_purchase_and_no_purchase_customers(spark):
    rows = [(1, "A", AS_OF - timedelta(days=40), 1, 3.0), (2, "B", AS_OF + timedelta(days=1), 2, 9.0)]
    customers = spark.createDataFrame([(1,), (2,), (3,)], "customer_id long")
    rfm = customer_rfm(sales_frame(spark, rows), AS_OF, customers=customers)
    assert rfm.column_names == list(RFM_COLUMNS)
    never = {
        "has_purchase": False, "recency_days": None, "frequency": 0, "monetary": 0.0, "r_score": None,
        "f_score": None, "m_score": None, "fm_score": None, "rfm_cell": None, "segment": NO_PURCHASES,
    }  # fmt: skip
    expected = [
        {"customer_id": 1, "has_purchase": True, "recency_days": 40, "frequency": 1, "monetary": 3.0,
         "r_score": 5, "f_score": 5, "m_score": 5, "fm_score": 5, "rfm_cell": "555", "segment": "Champions"},
        {"customer_id": 2, **never},
        {"customer_id": 3, **never},
    ]  # fmt: skip
    got = rfm.select(list(expected[0])).sort_by("customer_id").to_pylist()
    assert got == expected
    assert rfm.schema.field("recency_days").type == pa.int32()
    assert rfm.schema.field("as_of_date").type == pa.date32()


def test_customers_whose_lines_all_come_after_the_as_of_date_are_kept_without_purchase(spark):
    rows = [(1, "A", AS_OF - timedelta(days=2), 1, 3.0), (2, "B", AS_OF + timedelta(days=1), 2, 9.0)]
    out = {r.customer_id: r for r in collect(customer_rfm(sales_frame(spark, rows), AS_OF))}
    bought, later = out[1], out[2]
    assert bought.has_purchase and (bought.frequency, bought.r_score, bought.segment) == (1, 5, "Champions")
    assert (later.has_purchase, later.frequency, later.monetary, later.r_score) == (False, 0, 0.0, None)
    assert later.segment == NO_PURCHASES


def test_quintile_edges_for_recency_frequency_and_monetary(spark):
    # Five customers: recency 0..4 days, frequency 5..1, monetary 10, 20, 20, 30, 40.
    revenue = {1: 10.0, 2: 20.0, 3: 20.0, 4: 30.0, 5: 40.0}
    rows = []
    for c in range(1, 6):
        n = 6 - c
        rows += lines(c, n, days_ago=c - 1, revenue=revenue[c] / n, start_id=c * 100)
    got = scores(customer_rfm(sales_frame(spark, rows), AS_OF))
    # Recency: the most recent (0 days) is best -> 5. Monetary 20 twice: both "no better than" 3/5 -> 3.
    assert got == {1: (5, 5, 1), 2: (4, 4, 3), 3: (3, 3, 3), 4: (2, 2, 4), 5: (1, 1, 5)}


@pytest.mark.parametrize("bins", [5, 4])
def test_scores_follow_their_definition_on_values_with_many_ties(bins):
    # 200 customers, a few values each (so many ties), 30 without a purchase.
    import random

    rng = random.Random(bins)
    totals, buyers = [], {}
    for c in range(1, 201):
        if c <= 30:
            totals.append((c, None, None, 0, None))
            continue
        last = AS_OF - timedelta(days=rng.choice([0, 1, 1, 7, 30]))
        value = (last, rng.choice([1, 2, 2, 3, 8]), rng.choice([5.0, 5.0, 12.5, 40.0]))
        buyers[c] = value
        totals.append((c, last - timedelta(days=3), *value))
    names = ("customer_id", "first_purchase_date", "last_purchase_date", "frequency", "monetary")
    frame = pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in totals])

    def expected(mine, values) -> int:  # ceil(bins x share of purchasers no better or equal)
        return -(-bins * sum(1 for v in values if v <= mine) // len(values))

    recency = {c: (AS_OF - v[0]).days for c, v in buyers.items()}
    want = {c: None for c in range(1, 31)} | {
        c: (
            expected(-recency[c], [-r for r in recency.values()]),
            expected(v[1], [w[1] for w in buyers.values()]),
            expected(v[2], [w[2] for w in buyers.values()]),
        )
        for c, v in buyers.items()
    }
    got = scores(score_rfm(frame, AS_OF, bins))
    assert got == {c: (None, None, None) if w is None else w for c, w in want.items()}


def test_rule_table_covers_every_cell_and_names_the_eleven_segments():
    assert set(SEGMENT_GRID) == {1, 2, 3, 4, 5}
    assert all(len(row) == 5 for row in SEGMENT_GRID.values())
    assert {name for row in SEGMENT_GRID.values() for name in row} == set(SEGMENTS)
    assert len(SEGMENTS) == 11
    assert segment_for(5, 5, 5) == "Champions"
    assert segment_for(5, 1, 1) == "New"
    assert segment_for(1, 5, 5) == "Can't Lose"
    assert segment_for(1, 1, 1) == "Lost"
    assert segment_for(3, 3, 3) == "Need Attention"
    # FM is the mean of F and M, halves rounded up: F 4, M 5 -> 5.
    assert segment_for(4, 4, 5) == "Champions"
    # Other bin counts map onto 1..5 first: with 10 bins, 10 -> 5 and 1 -> 1.
    assert segment_for(10, 10, 10, bins=10) == "Champions"
    assert segment_for(1, 1, 1, bins=10) == "Lost"


@pytest.mark.parametrize("bins", [5, 3])
def test_the_vectorized_segments_follow_the_python_rule_table(bins):
    combos = list(product(range(1, bins + 1), repeat=3))
    r, f, m = (np.array(column) for column in zip(*combos, strict=True))
    assert dict(zip(combos, segments_of(r, f, m, bins), strict=True)) == {
        c: segment_for(*c, bins=bins) for c in combos
    }


def test_scoring_a_population_without_purchasers_or_without_customers():
    names = ("customer_id", "first_purchase_date", "last_purchase_date", "frequency", "monetary")
    schema = pa.schema(
        [("customer_id", pa.int64()), ("first_purchase_date", pa.date32()), ("last_purchase_date", pa.date32()),
         ("frequency", pa.int64()), ("monetary", pa.float64())]
    )  # fmt: skip
    nobody_bought = pa.Table.from_pylist([dict.fromkeys(names) | {"customer_id": 7}], schema)
    (row,) = collect(score_rfm(nobody_bought, AS_OF))
    assert (row.has_purchase, row.frequency, row.r_score, row.segment) == (False, 0, None, NO_PURCHASES)
    assert score_rfm(schema.empty_table(), AS_OF).num_rows == 0
