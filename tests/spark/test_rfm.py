"""RFM on small inline frames: exact scores at quintile edges, ties, one purchase, none."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from grocery.spark.rfm import NO_PURCHASES, SEGMENT_GRID, SEGMENTS, customer_rfm, score_rfm, segment_for

AS_OF = date(2018, 5, 9)
SALES_SCHEMA = (
    "sales_id long, transaction_number string, sales_date date, customer_id long, net_revenue double"
)


def sales_frame(spark, rows):
    return spark.createDataFrame(rows, SALES_SCHEMA)


def lines(customer: int, count: int, days_ago: int = 0, revenue: float = 1.0, start_id: int = 0):
    """`count` lines of one customer, each its own transaction, the newest `days_ago` days before AS_OF."""
    return [
        (start_id + i, f"T{customer}-{start_id + i}", AS_OF - timedelta(days=days_ago + i), customer, revenue)
        for i in range(count)
    ]


def scores(df) -> dict[int, tuple]:
    return {r.customer_id: (r.r_score, r.f_score, r.m_score) for r in df.collect()}


def test_ten_distinct_frequencies_fill_each_quintile_with_two_customers(spark):
    rows = [line for c in range(1, 11) for line in lines(c, c, start_id=c * 100)]
    rfm = customer_rfm(sales_frame(spark, rows), AS_OF, bins=5)
    f = {r.customer_id: r.f_score for r in rfm.collect()}
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
        f = {r.customer_id: r.f_score for r in customer_rfm(sales_frame(spark, ordered), AS_OF).collect()}
        assert f == {1: 4, 2: 4, 3: 4, 4: 4, 5: 5}


def test_recency_counts_from_the_as_of_date_and_ignores_later_sales(spark):
    rows = [
        (1, "A", AS_OF - timedelta(days=10), 1, 5.0),
        (2, "B", AS_OF + timedelta(days=3), 1, 100.0),  # after the interval: not counted
        (3, "C", AS_OF, 2, 7.0),
    ]
    out = {r.customer_id: r for r in customer_rfm(sales_frame(spark, rows), AS_OF).collect()}
    assert (out[1].recency_days, out[1].frequency, out[1].monetary) == (10, 1, 5.0)
    assert (out[2].recency_days, out[2].frequency, out[2].monetary) == (0, 1, 7.0)
    assert out[1].as_of_date == AS_OF


def test_frequency_counts_transactions_and_monetary_is_net_revenue(spark):
    rows = [
        (1, "T1", AS_OF, 1, 2.5),
        (2, "T1", AS_OF, 1, 1.5),  # same basket
        (3, None, AS_OF, 1, 1.0),  # no transaction number: its own basket
        (4, "T2", AS_OF - timedelta(days=1), 1, 0.25),
    ]
    (row,) = customer_rfm(sales_frame(spark, rows), AS_OF).collect()
    assert (row.frequency, row.monetary) == (3, 5.25)
    assert (row.first_purchase_date, row.last_purchase_date) == (AS_OF - timedelta(days=1), AS_OF)


def test_one_purchase_and_no_purchase_customers(spark):
    rows = [(1, "A", AS_OF - timedelta(days=40), 1, 3.0), (2, "B", AS_OF + timedelta(days=1), 2, 9.0)]
    customers = spark.createDataFrame([(1,), (2,), (3,)], "customer_id long")
    rfm = customer_rfm(sales_frame(spark, rows), AS_OF, customers=customers)
    expected = spark.createDataFrame(
        [
            Row(
                customer_id=1,
                has_purchase=True,
                recency_days=40,
                frequency=1,
                monetary=3.0,
                r_score=5,
                f_score=5,
                m_score=5,
                rfm_cell="555",
                segment="Champions",
            ),
            Row(
                customer_id=2,
                has_purchase=False,
                recency_days=None,
                frequency=0,
                monetary=0.0,
                r_score=None,
                f_score=None,
                m_score=None,
                rfm_cell=None,
                segment=NO_PURCHASES,
            ),
            Row(
                customer_id=3,
                has_purchase=False,
                recency_days=None,
                frequency=0,
                monetary=0.0,
                r_score=None,
                f_score=None,
                m_score=None,
                rfm_cell=None,
                segment=NO_PURCHASES,
            ),
        ],
        "customer_id long, has_purchase boolean, recency_days int, frequency long, monetary double, "
        "r_score int, f_score int, m_score int, rfm_cell string, segment string",
    )
    assertDataFrameEqual(rfm.select(*expected.columns), expected)


def test_customers_whose_lines_all_come_after_the_as_of_date_are_kept_without_purchase(spark):
    rows = [(1, "A", AS_OF - timedelta(days=2), 1, 3.0), (2, "B", AS_OF + timedelta(days=1), 2, 9.0)]
    out = {r.customer_id: r for r in customer_rfm(sales_frame(spark, rows), AS_OF).collect()}
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
def test_scores_follow_their_definition_on_values_with_many_ties(spark, bins):
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
    frame = spark.createDataFrame(
        totals,
        "customer_id long, first_purchase_date date, last_purchase_date date, frequency long, monetary double",
    )

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
def test_spark_segments_follow_the_python_rule_table(spark, bins):
    from pyspark.sql import functions as F

    from grocery.spark.rfm import _segment_expr

    combos = list(product(range(1, bins + 1), repeat=3))
    df = spark.createDataFrame(combos, "r int, f int, m int")
    got = {
        (r.r, r.f, r.m): r.segment
        for r in df.select(
            "r", "f", "m", _segment_expr(F.col("r"), F.col("f"), F.col("m"), bins).alias("segment")
        ).collect()
    }
    assert got == {c: segment_for(*c, bins=bins) for c in combos}
