"""RFM: recency, frequency and monetary value per customer, scored 1..bins and named by a rule table.

Definitions (as of the end of the data interval, never the wall clock):
- recency_days: days from the customer's last purchase to the as-of date (0 = bought that day);
- frequency: distinct transactions (a sale line without a transaction number counts as its own),
  told apart by a 64-bit hash of the transaction number;
- monetary: net revenue (after discounts), rounded to 4 decimals so sums are reproducible.

Only sales dated on or before the as-of date count. Customers without such a sale are kept with
`has_purchase = false`, frequency 0, monetary 0, no recency, no scores and the segment
`No purchases`; they are not part of the score population.

Scores: a customer's score is ceil(bins x share of scored customers whose value is no better than
theirs). Ties share the higher score, so equal values always get equal scores and the result does not
depend on row order; with distinct values, each score holds n / bins customers (quintiles for
bins = 5). "Better" is a smaller recency, a higher frequency, a higher monetary value.

Segments: the R score and the FM score (the mean of F and M, halves rounded up) index the grid
`SEGMENT_GRID` below. With bins other than 5, scores are first mapped onto 1..5
(ceil(score x 5 / bins)). The grid is the usual eleven named segments laid on R x FM:

    R \\ FM |  1              2                   3                   4          5
    5      |  New            Potential Loyalist  Potential Loyalist  Champions  Champions
    4      |  Promising      Potential Loyalist  Potential Loyalist  Loyal      Champions
    3      |  About to Sleep About to Sleep      Need Attention      Loyal      Loyal
    2      |  Hibernating    Hibernating         At Risk             At Risk    Can't Lose
    1      |  Lost           Lost                At Risk             Can't Lose Can't Lose
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

NO_PURCHASES = "No purchases"
SEGMENT_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Champions"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose"),
    1: ("Lost", "Lost", "At Risk", "Can't Lose", "Can't Lose"),
}
SEGMENTS: tuple[str, ...] = (
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose", "Hibernating", "Lost",
)  # fmt: skip

RFM_COLUMNS = (
    "customer_id", "has_purchase", "first_purchase_date", "last_purchase_date", "recency_days",
    "frequency", "monetary", "r_score", "f_score", "m_score", "fm_score", "rfm_cell", "segment", "as_of_date",
)  # fmt: skip


def fm_score(f: int, m: int) -> int:
    """The FM score: the mean of the F and M scores, halves rounded up."""
    return (f + m + 1) // 2


def to_five(score: int, bins: int) -> int:
    """A score on 1..bins mapped onto 1..5 (unchanged when bins is 5)."""
    return (score * 5 + bins - 1) // bins


def segment_for(r: int, f: int, m: int, bins: int = 5) -> str:
    """The segment of one customer's scores: the pure-Python reading of the rule table."""
    return SEGMENT_GRID[to_five(r, bins)][to_five(fm_score(f, m), bins) - 1]


def basket_key() -> Column:
    """A long per transaction: a 64-bit hash of the transaction number (of the sale line when it has none).

    Counting distinct longs rather than 20-character strings makes frequency several times cheaper;
    a collision among 7 M transaction numbers has odds of about 1e-6.
    """
    return F.xxhash64(
        F.coalesce(F.col("transaction_number"), F.concat(F.lit("sale-"), F.col("sales_id").cast("string")))
    )


def customer_totals(sales: DataFrame, as_of: date, partitions: int | None = None) -> DataFrame:
    """Per customer in `sales`: first and last purchase date, frequency and monetary.

    Only lines dated on or before as_of count; a customer without one keeps a row with no purchase
    dates, frequency 0 and no monetary value. `sales` has fct_sales' columns, or a `basket` column
    (from `basket_key`) instead of the transaction numbers. The lines are shuffled once, by customer
    into `partitions` (default: spark.sql.shuffle.partitions): both steps (per basket, then per
    customer: frequency = baskets) run within a partition. Sales read from files bucketed by customer
    into as many buckets are not shuffled at all: Spark sees they are already partitioned so.
    """
    dated = F.col("sales_date") <= F.lit(as_of)
    basket = F.col("basket") if "basket" in sales.columns else basket_key()
    by_customer = (
        sales.repartition(partitions, "customer_id") if partitions else sales.repartition("customer_id")
    )
    baskets = by_customer.groupBy("customer_id", basket.alias("basket")).agg(
        F.min(F.when(dated, F.col("sales_date"))).alias("first_date"),
        F.max(F.when(dated, F.col("sales_date"))).alias("last_date"),
        F.sum(F.when(dated, F.col("net_revenue"))).alias("revenue"),
    )
    return baskets.groupBy("customer_id").agg(
        F.min("first_date").alias("first_purchase_date"),
        F.max("last_date").alias("last_purchase_date"),
        F.count("last_date").cast("long").alias("frequency"),  # baskets with a line up to as_of
        F.round(F.sum("revenue"), 4).alias("monetary"),
    )


PURCHASERS = "_purchasers"  # the column of score_rfm's intermediate rows that holds n


def _score(column: str, bins: int, higher_is_better: bool) -> Column:
    """ceil(bins x count(no better or equal) / n) over the customers with a purchase, in integer arithmetic.

    Ranked purchasers first, best value first, a purchaser's rank is 1 + the purchasers strictly
    better, so n + 1 - rank count those no better or equal (ties share the rank, so the higher
    score). Customers without a purchase rank after every purchaser and get no score."""
    best_first = F.col(column).desc() if higher_is_better else F.col(column).asc()
    rank = F.rank().over(Window.orderBy(F.col("has_purchase").desc(), best_first))
    n = F.col(PURCHASERS)
    return F.when(F.col("has_purchase"), F.floor(((n + 1 - rank) * bins + n - 1) / n).cast("int"))


def _segment_expr(r: Column, f: Column, m: Column, bins: int) -> Column:
    def five(score: Column) -> Column:
        return F.floor((score * 5 + bins - 1) / bins).cast("int")

    fm = F.floor((f + m + 1) / 2).cast("int")
    pairs = []
    for r_value, row in SEGMENT_GRID.items():
        for fm_value, name in enumerate(row, start=1):
            pairs += [F.lit(r_value * 10 + fm_value), F.lit(name)]
    return F.create_map(*pairs)[five(r) * 10 + five(fm)]


def score_rfm(totals: DataFrame, as_of: date, bins: int = 5, customers: DataFrame | None = None) -> DataFrame:
    """Scores and segments from `customer_totals`; customers (a customer_id frame) adds those without any sale."""
    if customers is not None:
        unseen = customers.select("customer_id").distinct().join(totals, "customer_id", "left_anti")
        totals = totals.unionByName(unseen, allowMissingColumns=True)
    scored = (
        totals.withColumn("has_purchase", F.col("last_purchase_date").isNotNull())
        .withColumn("recency_days", F.datediff(F.lit(as_of), F.col("last_purchase_date")))
        .withColumn(PURCHASERS, F.count(F.when(F.col("has_purchase"), 1)).over(Window.partitionBy()))
        .withColumn("r_score", _score("recency_days", bins, higher_is_better=False))
        .withColumn("f_score", _score("frequency", bins, higher_is_better=True))
        .withColumn("m_score", _score("monetary", bins, higher_is_better=True))
    )
    r, f, m = F.col("r_score"), F.col("f_score"), F.col("m_score")
    cell = F.concat(r.cast("string"), f.cast("string"), m.cast("string"))
    return scored.select(
        F.col("customer_id").cast("long").alias("customer_id"),
        "has_purchase",
        "first_purchase_date",
        "last_purchase_date",
        F.col("recency_days").cast("int").alias("recency_days"),
        F.coalesce(F.col("frequency"), F.lit(0)).cast("long").alias("frequency"),
        F.coalesce(F.col("monetary"), F.lit(0.0)).cast("double").alias("monetary"),
        r.alias("r_score"),
        f.alias("f_score"),
        m.alias("m_score"),
        F.floor((f + m + 1) / 2).cast("int").alias("fm_score"),
        cell.alias("rfm_cell"),
        F.when(F.col("has_purchase"), _segment_expr(r, f, m, bins))
        .otherwise(F.lit(NO_PURCHASES))
        .alias("segment"),
        F.lit(as_of).alias("as_of_date"),
    )


def customer_rfm(
    sales: DataFrame, as_of: date, bins: int = 5, customers: DataFrame | None = None,
    partitions: int | None = None,
) -> DataFrame:  # fmt: skip
    """The whole RFM transform: fct_sales rows in, one row per customer out."""
    return score_rfm(customer_totals(sales, as_of, partitions), as_of, bins, customers)
